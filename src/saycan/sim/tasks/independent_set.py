"""The independent evaluation set: instructions written outside the project, frozen.

`independent/instructions.txt` holds every instruction as written (before anyone read the
suite's templates or a training grammar), with the scene it presupposes and, where it has no
task file, why. Each expressible instruction has one task file beside it, whose only template
is that text. The files live outside `specs/`, so `available_tasks()` (tasks=all, families,
training) never lists them: they run as `tasks=independent split=independent`.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from saycan.sim.objects_catalog import COLOUR_NAMES

#: The split's name, which is also the `tasks=` keyword that selects its task files.
INDEPENDENT = "independent"
INDEPENDENT_DIR = Path(__file__).parent / INDEPENDENT
INSTRUCTIONS_FILE = INDEPENDENT_DIR / "instructions.txt"

#: A line of an instructions file: id, text, scene note, status (empty: it has a task file).
_LINE = r"^({id})\t([^\t]+)\t([^\t]*)(?:\t([^\t]*))?$"


@dataclass(frozen=True)
class FrozenInstruction:
    id: str
    text: str
    scene: str
    status: str  # "" (has a task file), "not yet expressible: ..." or "excluded: ..."


def _read_instructions(path: Path, id_pattern: str) -> list[FrozenInstruction]:
    line_re = re.compile(_LINE.format(id=id_pattern))
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = line_re.match(line)
        if m is None:
            raise ValueError(f"{path.name}: malformed line {line[:60]!r}")
        out.append(FrozenInstruction(m.group(1), m.group(2), m.group(3), m.group(4) or ""))
    return out


def frozen_instructions() -> list[FrozenInstruction]:
    """Every instruction of the set, in file order (comment lines skipped)."""
    return _read_instructions(INSTRUCTIONS_FILE, r"\d{3}")


def independent_tasks() -> list[str]:
    """The set's task files (paths), in file-name order (`ind001_...` first)."""
    return sorted(str(p) for p in INDEPENDENT_DIR.glob("*.yaml"))


#: A second set written the same way (blind, from the tabletop's description) for choosing
#: between planner variants, so that the frozen set above is counted once, at the end. It runs
#: as `tasks=independent_dev split=independent`; `independent_dev/instructions.txt` says how it
#: was written.
INDEPENDENT_DEV = "independent_dev"
INDEPENDENT_DEV_DIR = Path(__file__).parent / INDEPENDENT_DEV


def independent_dev_tasks() -> list[str]:
    """The development set's task files (paths), in file-name order."""
    return sorted(str(p) for p in INDEPENDENT_DEV_DIR.glob("*.yaml"))


def development_instructions() -> list[FrozenInstruction]:
    """Every instruction of the development set (ids `d001`...), in file order."""
    return _read_instructions(INDEPENDENT_DEV_DIR / "instructions.txt", r"d\d{3}")


def instruction_id(task_name: str) -> str:
    """`ind042_warm_toned_middle` -> `042`: the task file's line in the instructions file."""
    return task_name.removeprefix("ind")[:3]


_PUNCT = str.maketrans("", "", string.punctuation)


def word_bag(text: str) -> tuple[str, ...]:
    """`text`'s words lowercased, without punctuation, colour words masked, in sorted order: two
    texts with the same bag say the same instruction in the sense the split is kept apart by
    (a template renders with any colours, and word order is cheap to change)."""
    words = text.lower().translate(_PUNCT).split()
    return tuple(sorted("<colour>" if w in COLOUR_NAMES else w for w in words))


@lru_cache(maxsize=1)
def _evaluated_bags() -> frozenset[tuple[str, ...]]:
    from saycan.sim.tasks import load_task

    return frozenset(
        word_bag(load_task(p).instructions.independent[0]) for p in independent_tasks()
    )


def says_an_evaluated_instruction(text: str) -> bool:
    """True when `text` has the word bag of an instruction the split evaluates. Generated
    training text (the grammar) is drawn again when it does, so the split stays unseen: the
    grammar was written without reading the set, but a grammar that says many things will
    say some of its plainest sentences by chance."""
    return word_bag(text) in _evaluated_bags()

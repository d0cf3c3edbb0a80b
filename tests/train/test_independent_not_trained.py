"""No instruction of the independent evaluation set, or of its development twin, is in
anything the planner learns from.

Sources of training text checked here:
- every string in the planner's data files (`assets/planner/**`: the few-shot example pool,
  adapter metadata, any `.json`, `.jsonl` or `.jsonl.gz` training set shipped there);
- every packaged instruction template (`specs/*.yaml`, seen and unseen, and the undo set that
  training may add, `tasks=undo`): the adapter's training data is rendered from them;
- a training instruction grammar, once one exists: a module `saycan.train.grammar` with
  `sample_instructions(n: int, seed: int) -> list[str]` (GRAMMAR below). If the module
  exists without that function, the test fails and says so: wire the grammar's sampler in
  `grammar_texts` rather than letting its outputs go unchecked.

Two texts collide when they are the same string, or the same bag of words, after lowercasing
and stripping punctuation. Templates and grammar outputs are compared with colour words
masked (a template `put the {A} in the {B}` renders with any colours), which is stricter than
comparing against one rendering.
"""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import json
import string
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import saycan
from saycan.sim.objects_catalog import COLOUR_NAMES
from saycan.sim.tasks import available_tasks, load_task
from saycan.sim.tasks.families import undo_tasks
from saycan.sim.tasks.independent_set import independent_dev_tasks, independent_tasks
from saycan.sim.tasks.spec import PLACEHOLDER

PLANNER_DATA = Path(saycan.__file__).parent / "assets" / "planner"
GRAMMAR = "saycan.train.grammar"
GRAMMAR_SAMPLES = 20_000
_PUNCT = str.maketrans("", "", string.punctuation)


def words(text: str, mask_colours: bool = False) -> tuple[str, ...]:
    out = text.lower().translate(_PUNCT).split()
    return tuple("<colour>" if mask_colours and w in COLOUR_NAMES else w for w in out)


def _strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def data_texts() -> list[str]:
    """Every string in the planner's JSON / JSONL (optionally gzipped) data files."""
    out: list[str] = []
    for path in sorted(PLANNER_DATA.rglob("*")):
        name = path.name
        if not name.endswith((".json", ".jsonl", ".jsonl.gz", ".json.gz")):
            continue
        if name.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                raw = f.read()
        else:
            raw = path.read_text("utf-8")
        docs = (
            [json.loads(line) for line in raw.splitlines() if line.strip()]
            if ".jsonl" in name
            else [json.loads(raw)]
        )
        for doc in docs:
            out += list(_strings(doc))
    return out


def template_texts() -> list[str]:
    """Every packaged template with its placeholders filled (colours get masked anyway)."""
    out = []
    for name in (*available_tasks(), *undo_tasks()):
        spec = load_task(name)

        def fill(m, spec=spec) -> str:
            role = spec.roles[m.group(1)]
            if m.group(2) == "colour":
                return "red"
            if m.group(2) == "category":
                return role.category
            return "middle" if role.category == "location" else f"red {role.category}"

        out += [
            PLACEHOLDER.sub(fill, t) for t in (*spec.instructions.seen, *spec.instructions.unseen)
        ]
    return out


def grammar_texts() -> list[str]:
    """The training grammar's outputs, if the project has one (see the module docstring)."""
    if importlib.util.find_spec(GRAMMAR) is None:
        return []
    module = importlib.import_module(GRAMMAR)
    sample = getattr(module, "sample_instructions", None)
    assert callable(sample), (
        f"{GRAMMAR} exists but has no sample_instructions(n, seed): wire its sampler into "
        "grammar_texts so the independent set is checked against its outputs"
    )
    return list(sample(GRAMMAR_SAMPLES, 0))


@lru_cache(maxsize=1)
def evaluated() -> tuple[str, ...]:
    """The instructions the split and its twin run: the text of every task file of both."""
    return tuple(
        load_task(p).instructions.independent[0]
        for p in (*independent_tasks(), *independent_dev_tasks())
    )


def collisions(texts: list[str], mask_colours: bool) -> list[str]:
    seen_strings = {words(t, mask_colours) for t in texts}
    seen_bags = {tuple(sorted(w)) for w in seen_strings}
    return [
        text
        for text in evaluated()
        if words(text, mask_colours) in seen_strings
        or tuple(sorted(words(text, mask_colours))) in seen_bags
    ]


def test_no_evaluated_instruction_is_in_the_planner_data_files():
    texts = data_texts()
    assert len(texts) > 300  # the example pool alone has hundreds of instructions
    assert collisions(texts, mask_colours=False) == []
    assert collisions(texts, mask_colours=True) == []


def test_no_evaluated_instruction_is_a_packaged_template_with_other_colours():
    assert collisions(template_texts(), mask_colours=True) == []


def test_no_evaluated_instruction_is_a_training_grammar_output():
    assert collisions(grammar_texts(), mask_colours=True) == []


def test_the_check_catches_a_planted_instruction():
    planted = evaluated()[0]
    assert collisions([planted.upper()], mask_colours=False)
    reordered = " ".join(reversed(planted.split()))
    assert collisions([reordered], mask_colours=False)

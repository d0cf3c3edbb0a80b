"""Task arguments as users write them (`embodiment`, `all`, a name, a task file) turned into
task names: shared by evaluation sweeps and training, which both take `tasks=...`."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from saycan.errors import UnknownTaskError
from saycan.sim.tasks.independent_set import (
    INDEPENDENT,
    INDEPENDENT_DEV,
    independent_dev_tasks,
    independent_tasks,
)
from saycan.sim.tasks.spec import available_tasks, load_task

#: Tasks that undo what the scene shows (a block out of its bowl, off the block it rests on),
#: run as `tasks=undo`. They are planner training data beside the suite, not part of `all`:
#: adding them there would change the denominator of every figure measured on the suite.
UNDO = "undo"
UNDO_DIR = Path(__file__).parent / UNDO


def undo_tasks() -> list[str]:
    """The undo set's task files (paths), in file-name order."""
    return sorted(str(p) for p in UNDO_DIR.glob("*.yaml"))


def sets_outside_all() -> dict[str, list[str]]:
    """The packaged task sets that `all` leaves out, by the `tasks=` keyword that runs them."""
    return {
        INDEPENDENT: independent_tasks(),
        INDEPENDENT_DEV: independent_dev_tasks(),
        UNDO: undo_tasks(),
    }


@lru_cache(maxsize=1)
def task_families() -> dict[str, tuple[str, ...]]:
    """Packaged task names per family, e.g. {"embodiment": ("covered_block_in_bowl", ...)}."""
    families: dict[str, list[str]] = {}
    for name in available_tasks():
        families.setdefault(load_task(name).family, []).append(name)
    return {k: tuple(v) for k, v in sorted(families.items())}


def expand_tasks(value: str | Sequence[str]) -> list[str]:
    """Task arguments to task names: a packaged task or a task file stays itself, a family name
    (`embodiment`) becomes its tasks, `all` every packaged task, `independent` the independent
    set's task files, `independent_dev` its development twin's and `undo` the undo set's
    (none of them part of `all`).
    Unknown names raise the task loader's one-line `SayCanError`."""
    items = [value] if isinstance(value, str) else [str(v) for v in value]
    tasks: list[str] = []
    for item in items:
        if item == "all":
            tasks.extend(available_tasks())
        elif item in (INDEPENDENT, INDEPENDENT_DEV, UNDO):
            tasks.extend(sets_outside_all()[item])
        elif item in available_tasks() or item.endswith((".yaml", ".yml")):
            load_task(item)  # fail fast on a malformed file
            tasks.append(item)
        elif item in task_families():
            tasks.extend(task_families()[item])
        else:
            try:
                load_task(item)  # raises the loader's "unknown task" error
            except UnknownTaskError as exc:
                sets = ", ".join(f"tasks={k}" for k in sets_outside_all())
                raise UnknownTaskError(f"{exc}; the sets outside all run as {sets}") from None
            tasks.append(item)
    return list(dict.fromkeys(tasks))

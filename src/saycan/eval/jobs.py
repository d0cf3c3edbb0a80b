"""One sweep job: run a few episodes of one composed config, each recorded exactly once.

The engine under both `saycan eval` modes: the single run (tasks x seeds in one process) and a
Hydra multirun job (one episode, or one task family, per job). Why it is shaped this way:

- **Keys, not positions.** An episode's key is (hash of the resolved config minus the keys that
  cannot change an outcome, task, seed), so a rerun with the same results directory skips what
  is on disk whatever the launcher, job numbering or sweep order.
- **Loaded once per process.** Launchers that reuse workers (joblib/loky, Ray) run many jobs in
  one process; `cached_components` keeps the last built `Components` (LLM, PyBullet client)
  keyed by the resolved component config, so the model loads once per worker, not per job.
- **A broken episode is a record, not a crash**: its error becomes the record's `error`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from saycan.errors import ConfigError, OutputError, SayCanError
from saycan.eval.lockstep import run_lockstep
from saycan.eval.records import ResultsStore
from saycan.planner.scorers.streams import ScoresStreams, StreamScorer
from saycan.redaction import redacted
from saycan.runtime.components import Components, build_components, surfaced
from saycan.runtime.episode import episode_steps
from saycan.seeds import assert_not_training_seed, built_from
from saycan.sim.tasks import available_tasks, load_task
from saycan.sim.tasks.colour_split import supports_unseen_colours
from saycan.sim.tasks.independent_set import (
    INDEPENDENT,
    independent_dev_tasks,
    independent_tasks,
)
from saycan.sim.tasks.instance import template_split

#: Config keys that select *which* episodes run or how they are logged, never their outcome:
#: left out of the config hash that keys a record.
NON_SEMANTIC_KEYS = frozenset(
    {
        "task",
        "tasks",
        "seed",
        "seed_start",
        "episodes_per_task",
        "output_dir",
        "quiet",
        "video",
        "frames",
        "lockstep",
    }
)
#: The config nodes `Components` is built from (the LLM and prompt enter through the planner).
COMPONENT_KEYS = (
    "robot",
    "llm",
    "prompt",
    "planner",
    "perception",
    "affordance",
    "executor",
    "skills",
    "safety",
)

_CACHE: dict[str, Components | LockstepSlots] = {}


def tasks_for_split(tasks: Sequence[str], split: str) -> list[str]:
    """The tasks that have `split`: `unseen_colours` exists only for tasks with a role whose
    colour is free (sim/tasks/colour_split.py); a family sweep over that split runs those.
    The independent set's tasks have only the `independent` split, and it only them: a
    mismatch is refused before any episode runs."""
    other = next(
        (
            t
            for t in tasks
            if bool(load_task(t).instructions.independent) != (str(split) == INDEPENDENT)
        ),
        None,
    )
    if other is not None:
        raise ConfigError(
            f"task {Path(other).stem!r} has no {str(split)!r} instructions; "
            "the independent set runs as tasks=independent split=independent "
            "(its development twin as tasks=independent_dev split=independent)"
        )
    frozen, dev = set(independent_tasks()), set(independent_dev_tasks())
    if any(str(t) in frozen for t in tasks) and any(str(t) in dev for t in tasks):
        raise ConfigError(
            "tasks mixes the independent set with its development twin: one is the figure "
            "reported, the other is chosen on; run them apart"
        )
    if str(split) != "unseen_colours":
        return list(tasks)
    kept = [t for t in tasks if supports_unseen_colours(load_task(t))]
    if not kept:
        raise ConfigError(
            f"none of {list(tasks)} has an unseen_colours variant (their roles' colours are fixed)"
        )
    return kept


def refuse_textless(tasks: Sequence[str], split: str) -> None:
    """A single run refuses tasks without templates for `split` (e.g. tasks=undo split=unseen)
    before any episode: each would fail the same way. A multirun job records them per episode
    instead, so the sweep's other jobs go on."""
    textless = [
        t for t in tasks if not getattr(load_task(t).instructions, template_split(str(split)))
    ]
    if textless:
        raise ConfigError(
            f"{len(textless)} task(s) have no {str(split)!r} instructions, e.g. "
            f"{Path(textless[0]).stem!r}; run them with a split they have"
        )


def _plain(node: Any) -> Any:
    return (
        OmegaConf.to_container(node, resolve=True)
        if isinstance(node, (DictConfig, ListConfig))
        else node
    )


def _digest(data: Any) -> str:
    return hashlib.sha1(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def config_id(cfg: DictConfig) -> str:
    """12 hex digits naming everything in `cfg` that can change an episode's outcome."""
    return _digest({k: _plain(cfg[k]) for k in cfg if k not in NON_SEMANTIC_KEYS})[:12]


def components_id(cfg: DictConfig) -> str:
    return _digest({k: _plain(cfg[k]) for k in COMPONENT_KEYS if k in cfg})


def episode_key(cid: str, task: str, seed: int) -> str:
    return f"{cid}/{task}/{seed}"


def cached_components(cfg: DictConfig) -> Components:
    """This process's `Components` for `cfg`'s component config, built on first use. One entry
    is kept (a new config closes the old one: one PyBullet client and one model per worker)."""
    key = components_id(cfg)
    if key not in _CACHE:
        close_cached_components()
        _CACHE[key] = build_components(cfg)
    return _CACHE[key]


def close_cached_components() -> None:
    while _CACHE:
        _CACHE.popitem()[1].close()


def _failed_record(task: str, seed: int, split: str, exc: BaseException) -> dict[str, Any]:
    return {
        "task": Path(task).stem,
        "family": _family_or_none(task),
        "split": split,
        "seed": seed,
        "success": False,
        "steps": 0,
        # a constructor's check may echo a value that interpolated a secret
        "error": redacted(f"{type(exc).__name__}: {exc}"),
        "traceback": redacted("".join(traceback.format_exception(exc, limit=-5))),
    }


def _family_or_none(task: str) -> str | None:
    try:
        return load_task(task).family
    except SayCanError:
        return None


def run_episodes(
    cfg: DictConfig,
    results_dir: Path,
    episodes: Iterable[tuple[str, int]],
    *,
    meta: dict[str, Any] | None = None,
    raise_build_errors: bool = True,
    on_record: Callable[[dict[str, Any], bool], None] | None = None,
) -> list[dict[str, Any]]:
    """Run each (task, seed) of `cfg` not yet in `results_dir`'s results; return every
    record (found or new) in order. `meta` is merged into new records (choices, job number).
    `on_record(record, was_new)` is called per episode (progress bars). `cfg.lockstep` = N > 1
    runs N episodes at once and batches their decisions (`saycan.eval.lockstep`)."""
    store = ResultsStore(results_dir)
    done = store.by_key()
    cid = config_id(cfg)
    split = str(cfg.split)
    label = (meta or {}).get("label") or cid
    records: dict[int, dict[str, Any]] = {}
    todo: list[tuple[int, str, int]] = []
    for n, (task, seed) in enumerate(episodes):
        key = episode_key(cid, task, seed)
        if key in done:
            records[n] = done[key]
            if on_record:
                on_record(done[key], False)
        else:
            todo.append((n, task, seed))
    if not todo:
        return [records[n] for n in sorted(records)]
    slots = lockstep_slots(cfg)
    if raise_build_errors:
        # One run of one config: a seed its planner was built from is the whole run's mistake,
        # refused before any episode (a sweep's job records it per episode instead)
        for what, seeds in built_from(slots.get(0).planner).items():
            for _, _, seed in todo:
                assert_not_training_seed(seed, seeds, what)
    started: dict[int, float] = {}
    build_error: list[BaseException] = []

    def start(slot: int, job: tuple[int, str, int]):
        n, task, seed = job
        started[n] = time.perf_counter()
        if not build_error:
            try:
                components = slots.get(slot)
            except Exception as exc:  # recorded per episode below
                if raise_build_errors:
                    raise
                build_error.append(exc)
        if build_error:
            return _failing(build_error[0])
        episode_dir = (
            Path(results_dir)
            / "episodes"
            / f"{_safe(label)}-{cid[:8]}"
            / episode_dir_name(task)
            / str(seed)
        )
        return episode_steps(
            components,
            task,
            seed,
            episode_dir,
            split=split,
            instruction=cfg.instruction,
            max_steps=cfg.max_steps,
            video=bool(cfg.video),
            frames=bool(cfg.frames),
        )

    def finish(slot: int, job: tuple[int, str, int], ended: Any) -> None:
        n, task, seed = job
        key = episode_key(cid, task, seed)
        if isinstance(ended, OutputError):
            raise ended  # the disk, not the episode: stop, keeping the records already written
        if isinstance(ended, Exception):  # one broken episode must not sink the sweep
            record = _failed_record(task, seed, split, ended)
            if not build_error:
                slots.discard(slot)  # its simulator may be in any state: rebuild
        else:
            record = ended.to_dict()
        record.setdefault("wall_s", round(time.perf_counter() - started[n], 3))
        record.update(
            key=key,
            config_id=cid,
            task_arg=task,
            pid=os.getpid(),
            torch_threads=_torch_threads(),
            planner=record.get("planner")
            or OmegaConf.select(cfg, "planner.name")
            or (meta or {}).get("choices", {}).get("planner"),
            **(meta or {}),
        )
        records[n] = record if store.append(record) else store.by_key()[key]  # else: theirs stands
        if on_record:
            on_record(records[n], True)

    run_lockstep(slots.size, todo, start, finish)
    return [records[n] for n in sorted(records)]


def _failing(exc: BaseException):
    """Steps that fail at once with `exc` (an episode whose components could not be built)."""
    raise exc
    yield  # unreachable: makes this a generator


class LockstepSlots:
    """The components of each lockstep slot. One slot: this process's cached components (the
    serial sweep). More: each slot its own (simulator, planner, perception), all on ONE
    language model, each through a `StreamScorer` of its own prompt-cache stream."""

    def __init__(self, cfg: DictConfig, size: int):
        self.cfg, self.size = cfg, size
        self._slots: dict[int, Components] = {}
        self._base: Any = None
        if size > 1 and cfg.planner.get("scorer") is not None:
            self._base = instantiate(cfg.planner.scorer)
            if not isinstance(self._base, ScoresStreams):
                raise ConfigError(
                    f"lockstep={size} batches decisions on one local model; "
                    f"{type(self._base).__name__} ({self._base.name}) cannot score several "
                    "episodes' requests in one pass: use lockstep=1"
                )

    def get(self, slot: int) -> Components:
        if self.size == 1:
            return cached_components(self.cfg)
        if slot not in self._slots:
            view = StreamScorer(self._base, slot) if self._base is not None else None
            self._slots[slot] = build_components(self.cfg, scorer=view)
        return self._slots[slot]

    def discard(self, slot: int) -> None:
        if self.size == 1:
            close_cached_components()
        elif slot in self._slots:
            self._slots.pop(slot).close()

    def close(self) -> None:
        while self._slots:
            self._slots.popitem()[1].close()


def lockstep_slots(cfg: DictConfig) -> LockstepSlots:
    """`cfg.lockstep`'s slots, kept in this process like `cached_components` (one model load
    per worker, however many jobs it runs)."""
    size = cfg.get("lockstep", 1)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"lockstep must be an integer >= 1, got {size!r}")
    if size == 1:
        return LockstepSlots(cfg, 1)
    key = f"{components_id(cfg)}/lockstep={size}"
    if key not in _CACHE:
        close_cached_components()
        try:
            _CACHE[key] = LockstepSlots(cfg, size)
        except InstantiationException as exc:
            raise surfaced(exc) from None
    return _CACHE[key]


def episode_dir_name(task: str) -> str:
    """The directory an episode of `task` goes in, below a results directory's `episodes/`:
    a packaged task's name, or a task file's stem plus a digest of its absolute path. With
    the stem alone, `a/x.yaml` and `b/x.yaml` wrote into one directory (the second trace
    replaced the first, whose record then pointed at it); with the path itself, an absolute
    one escaped the results directory."""
    if task in available_tasks():
        return task
    digest = hashlib.sha1(str(Path(task).expanduser().resolve()).encode()).hexdigest()[:8]
    return f"{_safe(Path(task).stem)}-{digest}"


def _torch_threads() -> int | None:
    """This worker's torch threads (joblib limits them to cores / n_jobs): timings need it."""
    import sys

    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_=.," else "_" for c in label)[:120]

"""`saycan eval`: episodes over configs x tasks x seeds, recorded as they finish, resumable.

Two modes over one engine (`saycan.eval.jobs.run_episodes`):

- single run, `saycan eval tasks=[...] episodes_per_task=N`: every task x seed in this process
  (models loaded once), summary JSON as the last stdout line;
- Hydra multirun, `saycan eval -m planner=saycan,llm_only task=embodiment seed=range(0,10)
  [hydra/launcher=joblib]`: each job runs its config's episodes (one task or one family, one
  seed) into the sweep directory's shared `results.jsonl`; `SweepCallback.on_multirun_end`
  prints the summary (`saycan.eval.callbacks`).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from saycan.errors import ConfigError, SayCanError
from saycan.eval.jobs import NON_SEMANTIC_KEYS, refuse_textless, run_episodes, tasks_for_split
from saycan.eval.progress import SweepProgress
from saycan.eval.records import ResultsStore
from saycan.files import write_atomic
from saycan.metrics import rate, summarise
from saycan.planner.prompts import clean_instruction
from saycan.redaction import redacted
from saycan.runtime.closed_loop import help_summary
from saycan.runtime.interrupts import Interrupted
from saycan.sim.tasks.families import expand_tasks


def machine() -> dict:
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "torch_threads": torch.get_num_threads(),
    }


def resolve_dir(path: str | os.PathLike[str], cwd: str | os.PathLike[str]) -> Path:
    """`path` against the directory `saycan eval` was started in: workers (Ray, SLURM) may run
    elsewhere, and all of them must find the same results file."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(cwd) / p


def seeds_of(cfg: DictConfig) -> range:
    return range(int(cfg.seed_start), int(cfg.seed_start) + int(cfg.episodes_per_task))


# ------------------------------------------------------------------------------ single run
def eval_command(cfg: DictConfig, run_dir: Path) -> int:
    """All tasks x seeds of one config in this process; exit code 0 (bad input raises)."""
    from hydra.core.hydra_config import HydraConfig

    hc = HydraConfig.get()
    out_dir = resolve_dir(cfg.output_dir, hc.runtime.cwd) if cfg.output_dir else Path(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = tasks_for_split(
        expand_tasks("all" if cfg.tasks == "all" else cfg.tasks), cfg.split
    )  # fails fast on a bad name
    refuse_textless(tasks, cfg.split)
    if cfg.instruction is not None:
        clean_instruction(cfg.instruction)
    seeds = seeds_of(cfg)
    episodes = [(t, s) for t in tasks for s in seeds]
    progress = SweepProgress(len(episodes), enabled=not cfg.quiet).start()
    counts = {"finished": 0, "ok": 0}

    def tick(record: dict, _new: bool) -> None:
        counts["finished"] += 1
        counts["ok"] += bool(record.get("success"))
        progress.update(counts["finished"], counts["ok"])

    start = time.perf_counter()
    try:
        records = run_episodes(cfg, out_dir, episodes, meta=job_meta(cfg, hc), on_record=tick)
    except Interrupted as exc:
        exc.note = resume_note(out_dir)
        raise
    finally:
        progress.stop()
        from saycan.eval.jobs import close_cached_components

        close_cached_components()
    summary = {
        "episodes": len(records),
        "tasks": len(tasks),
        **rate(sum(bool(r["success"]) for r in records), len(records)),
        "per_task": summarise(records, "task"),
        "per_family": summarise([r for r in records if r.get("family")], "family"),
        **help_summary(records),  # asking for help: coverage, help rate (only when asking for help)
        "llm": OmegaConf.select(cfg, "llm.model"),
        # what the episodes scored with, as their records name it: adapters and every member
        # of an ensemble included, which `llm` (the config's model) does not say
        "models": sorted({str(r["llm"]) for r in records if r.get("llm")}),
        "planner": OmegaConf.select(cfg, "planner.name") or hc.runtime.choices.get("planner"),
        "executor": OmegaConf.select(cfg, "executor._target_"),
        "split": str(cfg.split),
        "seeds": [seeds.start, seeds.stop - 1],
        "mean_steps": round(sum(r.get("steps", 0) for r in records) / max(len(records), 1), 3),
        "errors": sum(1 for r in records if r.get("error")),
        "wall_s": round(time.perf_counter() - start, 1),
        "results_dir": str(out_dir),
        "machine": machine(),
    }
    write_atomic(out_dir / "summary.json", json.dumps(summary, indent=2))
    print(json.dumps(summary), flush=True)
    return 0


def resume_note(results_dir: Path) -> str:
    """What an interrupted sweep kept (the interrupted episode is not recorded: it runs again)."""
    store = ResultsStore(results_dir)
    return (
        f"{len(store.by_key())} finished episode(s) kept in {store.path}; "
        "the same command resumes the sweep"
    )


# ------------------------------------------------------------------------------- multirun
def job_meta(cfg: DictConfig, hc: Any) -> dict[str, Any]:
    """What a record says about its job: the group choices (planner, llm, ...), a readable
    label of its configuration (the overrides that can change an outcome, planner first) and
    its Hydra job number."""
    choices = {
        k: v
        for k, v in dict(hc.runtime.choices).items()
        if not k.startswith("hydra/") and v is not None
    }
    semantic = [
        o
        for o in hc.overrides.task  # a job's come escaped by Hydra (`$\{...\}`): never resolved
        if (k := o.split("=", 1)[0].lstrip("+~")) not in NON_SEMANTIC_KEYS
        and not k.startswith(("hydra", "experiment"))
    ]
    if not any(o.lstrip("+~").startswith("planner=") for o in semantic):
        semantic.insert(0, f"planner={choices.get('planner', '?')}")
    return {"choices": choices, "label": ",".join(semantic), "job": _job_num(hc)}


def literal_overrides(hc: Any) -> list[str]:
    """The overrides as typed on the command line. Read through OmegaConf a `${oc.env:...}`
    inside one is resolved, and a summary would carry the variable's value (a secret)."""
    return [str(o) for o in OmegaConf.to_container(hc.overrides.task, resolve=False)]


def _job_num(hc: Any) -> int | None:
    try:
        return int(hc.job.num)
    except Exception:  # noqa: BLE001 - single runs have no job number
        return None


def job_episodes(cfg: DictConfig, overridden: Iterable[str]) -> list[tuple[str, int]]:
    """A job's episodes: `task` (a task, a task file, a family or `all`) if the sweep sets it,
    else every task of `tasks`; `seed` if the sweep sets it, else `episodes_per_task` seeds
    from `seed_start`."""
    keys = set(overridden)
    tasks = tasks_for_split(
        expand_tasks(cfg.task) if "task" in keys else expand_tasks(cfg.tasks),
        cfg.get("split", "seen"),
    )
    seeds = [int(cfg.seed)] if "seed" in keys else list(seeds_of(cfg))
    return [(t, s) for t in tasks for s in seeds]


def override_keys(overrides: Iterable[str]) -> list[str]:
    return [o.split("=", 1)[0].lstrip("+~") for o in overrides]


def eval_job(cfg: DictConfig) -> dict[str, Any]:
    """One multirun job: its episodes, appended to the sweep's shared results file. Never
    raises for a failing episode (it becomes a failed record) and never calls sys.exit (that
    would end a serial sweep); returns counts for the launcher."""
    from hydra.core.hydra_config import HydraConfig

    from saycan.skills.safety import assert_parallel_ok

    hc = HydraConfig.get()
    assert_parallel_ok(cfg.robot, OmegaConf.select(hc, "launcher._target_"))  # last line of defence
    results_dir = sweep_results_dir(cfg.output_dir, hc.sweep.dir, hc.runtime.cwd)
    meta = job_meta(cfg, hc)
    try:
        episodes = job_episodes(cfg, override_keys(hc.overrides.task))
    except SayCanError as exc:  # e.g. an unknown task named in an experiment file
        episodes, bad = [], exc
        print(
            f"saycan: error: job {meta['job']}: {redacted(str(exc))}", file=sys.stderr, flush=True
        )
    else:
        bad = None
    try:
        records = run_episodes(cfg, results_dir, episodes, meta=meta, raise_build_errors=False)
    except Interrupted as exc:
        exc.note = resume_note(results_dir)
        raise
    _flush_all()  # a worker's buffered output must not land after the summary line
    return {
        "episodes": len(records),
        "successes": sum(bool(r.get("success")) for r in records),
        "error": str(bad) if bad else None,
    }


def _flush_all() -> None:
    """Flush Python's and C's stdio buffers: pybullet prints from C, and a reused worker
    (joblib/loky, Ray) would otherwise emit those lines when it exits, after the summary."""
    import ctypes

    sys.stdout.flush()
    sys.stderr.flush()
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to flush (not on Linux/macOS)
        pass


def sweep_results_dir(output_dir: str | None, sweep_dir: str, cwd: str) -> Path:
    """A multirun's one results directory: `output_dir` if set, else Hydra's sweep dir."""
    return resolve_dir(output_dir or sweep_dir, cwd)


def sweep_summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Success per planner (and per planner x family, per distinct configuration) with Wilson
    95% intervals, over every record of the results directory."""
    by_planner: dict[str, list[Mapping]] = defaultdict(list)
    for r in records:
        by_planner[str(r.get("planner") or "unknown")].append(r)
    return {
        "episodes": len(records),
        **rate(sum(bool(r.get("success")) for r in records), len(records)),
        "per_planner": {
            p: rate(sum(bool(r.get("success")) for r in rs), len(rs))
            for p, rs in sorted(by_planner.items())
        },
        "per_planner_family": {
            p: summarise([r for r in rs if r.get("family")], "family")
            for p, rs in sorted(by_planner.items())
        },
        "per_config": summarise(
            [{**r, "label": r.get("label") or r.get("config_id")} for r in records], "label"
        ),
        "errors": sum(1 for r in records if r.get("error")),
        "mean_steps": round(sum(r.get("steps") or 0 for r in records) / max(len(records), 1), 3),
    }


# ------------------------------------------------------------------- checks before launching
def check_sweep(overrides: Sequence[str], multirun: bool) -> None:
    """Bad input a sweep would only meet inside its jobs, found before any job starts: every
    task value (names, files, families) and a physical robot under a parallel launcher.
    Raises `SayCanError` (one line)."""
    from hydra import compose, initialize_config_module
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from saycan.skills.safety import assert_parallel_ok

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    robots: list[str] = []
    first: list[str] = []
    for o in parsed:
        key = o.get_key_element()
        values = (
            list(o.sweep_string_iterator())
            if o.is_sweep_override()
            else [o.get_value_element_as_str()]
        )
        if key in ("task", "tasks"):
            for v in values:
                expand_tasks(_listish(v))
        if key == "robot":
            robots = values
        if o.is_sweep_override() and _is_group(key):
            for v in values[1:]:  # the CLI composed the first value already
                _compose_or_raise([f"{key}={v}"])
        first.append(f"{key}={values[0]}" if o.is_sweep_override() else o.input_line)
    if not multirun:
        return
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("eval", overrides=first, return_hydra_config=True)
    launcher = OmegaConf.select(cfg, "hydra.launcher._target_")
    swept = OmegaConf.select(cfg, "hydra.sweeper.params.task")  # an experiment's task sweep
    if swept:
        for o in OverridesParser.create().parse_overrides([f"task={swept}"]):
            for v in (
                o.sweep_string_iterator()
                if o.is_sweep_override()
                else [o.get_value_element_as_str()]
            ):
                expand_tasks(_listish(v))
    for robot in robots or [None]:
        if robot is not None:
            with initialize_config_module("saycan.configs", version_base="1.3"):
                node = compose("eval", overrides=[*first, f"robot={robot}"]).robot
        else:
            node = cfg.robot
        assert_parallel_ok(node, launcher)


def _is_group(key: str) -> bool:
    import saycan.configs

    return (Path(saycan.configs.__file__).parent / key).is_dir() or key.startswith("hydra/")


def _compose_or_raise(overrides: list[str]) -> None:
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException

    try:
        with initialize_config_module("saycan.configs", version_base="1.3"):
            compose("eval", overrides=overrides, return_hydra_config=True)
    except HydraException as exc:
        raise ConfigError(f"invalid configuration: {' '.join(str(exc).split())}") from None


def _listish(value: str) -> list[str] | str:
    """`[a,b]` (a list value) as a list, anything else as itself."""
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        return [v.strip().strip("'\"") for v in value[1:-1].split(",") if v.strip()]
    return value


__all__ = ["check_sweep", "eval_command", "eval_job", "machine", "sweep_summary"]

"""Hydra callbacks of `saycan eval` multiruns (configured in `eval.yaml`, `hydra.callbacks`).

They run where the sweep was started, whichever launcher runs the jobs: before the launch they
refuse a physical robot under a parallel launcher and start the progress bar; after the last
job they aggregate the shared `results.jsonl` and print the summary as the last stdout line.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from saycan.errors import SayCanError
from saycan.eval.progress import ResultsWatcher, SweepProgress
from saycan.eval.records import ResultsStore
from saycan.files import write_atomic


class SweepCallback(Callback):
    """Progress bar on start, summary JSON (and the report, when available) at the end."""

    def __init__(self, report: bool = True) -> None:
        self.report = report
        self._watcher: ResultsWatcher | None = None
        self._start = 0.0
        self._initial = 0

    def __getstate__(self) -> dict[str, Any]:
        # Launchers pickle callbacks to their workers; the bar's thread stays here.
        return {"report": self.report}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from saycan.eval.sweep import sweep_results_dir
        from saycan.skills.safety import assert_parallel_ok

        assert_parallel_ok(config.robot, OmegaConf.select(config, "hydra.launcher._target_"))
        results_dir = sweep_results_dir(
            config.output_dir, config.hydra.sweep.dir, config.hydra.runtime.cwd
        )
        results_dir.mkdir(parents=True, exist_ok=True)
        self._initial = len(ResultsStore(results_dir).by_key())
        self._start = time.perf_counter()
        if not config.quiet:
            bar = SweepProgress(planned_episodes(config), initial=self._initial)
            self._watcher = ResultsWatcher(results_dir, bar).start()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from saycan.eval.sweep import literal_overrides, machine, sweep_results_dir, sweep_summary

        if self._watcher is not None:
            self._watcher.stop()
        results_dir = sweep_results_dir(
            config.output_dir, config.hydra.sweep.dir, config.hydra.runtime.cwd
        )
        records = list(ResultsStore(results_dir).by_key().values())
        wall = time.perf_counter() - self._start
        new = max(len(records) - self._initial, 0)
        summary = {
            **sweep_summary(records),
            "results_dir": str(results_dir),
            "new_episodes": new,
            "wall_s": round(wall, 1),
            "episodes_per_hour": round(new / wall * 3600, 1) if wall > 0 and new else None,
            "launcher": OmegaConf.select(config, "hydra.launcher._target_"),
            "n_jobs": OmegaConf.select(config, "hydra.launcher.n_jobs"),
            "overrides": literal_overrides(config.hydra),
            "machine": machine(),
        }
        if self.report and records:
            summary["report"] = _build_report(results_dir)
        write_atomic(results_dir / "summary.json", json.dumps(summary, indent=2))
        print(json.dumps(summary), flush=True)


def _build_report(results_dir: Path) -> Any:
    """Tables, plots and episode pages (saycan.eval.report, written alongside this engine).
    Guarded: the report module may be absent or fail; the sweep's summary must still print.
    The lead wires the final call."""
    try:
        from saycan.eval.report import build_report
    except ImportError:
        return None
    try:
        return build_report(results_dir)
    except SayCanError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - a plot failing must not hide the sweep's figures
        return {"error": f"{type(exc).__name__}: {exc}"}


def planned_episodes(config: DictConfig) -> int | None:
    """How many episodes the sweep will run, from the same overrides the BasicSweeper expands
    (command line + `hydra.sweeper.params`); None for another sweeper (the bar has no total)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    from saycan.eval.sweep import job_episodes, override_keys

    if not str(OmegaConf.select(config, "hydra.sweeper._target_") or "").endswith("BasicSweeper"):
        return None
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    args = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
    try:
        parsed = OverridesParser.create().parse_overrides(args)
        jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
        keys = ("task", "tasks", "seed", "seed_start", "episodes_per_task", "split")
        plain = OmegaConf.to_container(config)
        base = {k: plain[k] for k in keys}
        counts: dict[tuple, int] = {}  # jobs differing only in other keys run as many episodes
        total = 0
        for job in jobs:
            values = {
                k: v for k, v in (o.split("=", 1) for o in job) if k in ("task", "seed", "split")
            }
            sig = (
                tuple(sorted(values.items())),
                tuple(sorted(set(override_keys(job)) & {"task", "seed"})),
            )
            if sig not in counts:
                cfg = OmegaConf.merge(
                    OmegaConf.create(base),
                    OmegaConf.from_dotlist([f"{k}={v}" for k, v in values.items()]),
                )
                counts[sig] = len(job_episodes(cfg, override_keys(job)))
            total += counts[sig]
        return total
    except Exception:  # noqa: BLE001 - a bar without a total is still a bar
        return None

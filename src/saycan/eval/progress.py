"""A progress bar for long sweeps: episodes done / total, success so far, ETA (rich, on stderr).

stderr, and no stdout redirection, so that the sweep's last stdout line stays its JSON summary.
In a multirun the episodes finish in other processes (joblib/Ray workers, SLURM jobs), so
`ResultsWatcher` follows the shared `results.jsonl` instead of being told about each episode.
"""

from __future__ import annotations

import threading
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from saycan.eval.records import ResultsStore


class SweepProgress:
    """`update(done, successes)` as episodes finish; a no-op when disabled (`quiet=true`)."""

    def __init__(self, total: int | None, *, enabled: bool = True, initial: int = 0) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        if not enabled:
            return
        self._progress = Progress(
            TextColumn("[bold]eval[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("episodes, success so far {task.fields[ok]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            redirect_stdout=False,
            redirect_stderr=False,
            transient=False,
        )
        self._task = self._progress.add_task("eval", total=total, completed=initial, ok="-")

    def start(self) -> SweepProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def update(self, done: int, successes: int) -> None:
        if self._progress is None:
            return
        total = self._progress.tasks[0].total
        shown = min(done, int(total)) if total else done
        ok = f"{successes}/{done} ({successes / done:.0%})" if done else "-"
        self._progress.update(self._task, completed=shown, ok=ok)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


class ResultsWatcher:
    """Polls `results.jsonl` in a daemon thread and feeds a `SweepProgress`."""

    def __init__(self, results_dir: Path, progress: SweepProgress, interval_s: float = 1.0) -> None:
        self.store = ResultsStore(results_dir)
        self.progress = progress
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="saycan-eval-progress", daemon=True)

    def count(self) -> tuple[int, int]:
        records = self.store.by_key().values()
        return len(records), sum(bool(r.get("success")) for r in records)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.progress.update(*self.count())
            self._stop.wait(self.interval_s)

    def start(self) -> ResultsWatcher:
        self.progress.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.progress.update(*self.count())
        self.progress.stop()

"""`saycan eval tasks=independent split=independent`: the independent set runs as its own split,
and the expert solves every one of its task files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from saycan.sim.tasks.independent_set import independent_tasks


def saycan(*args: str, cwd, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "saycan.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


@pytest.mark.slow
def test_the_expert_solves_every_independent_task_on_the_evaluation_seeds(tmp_path):
    """About 10 minutes on 2 busy cores: every task file x 5 seeds, oracle planner, teleport."""
    proc = saycan(
        "eval",
        "tasks=independent",
        "split=independent",
        "planner=oracle",
        "executor=teleport",
        "episodes_per_task=5",
        "quiet=true",
        f"output_dir={tmp_path / 'out'}",
        cwd=tmp_path,
        timeout=3000,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["split"] == "independent" and summary["tasks"] == len(independent_tasks())
    failed = {t: s for t, s in summary["per_task"].items() if s["successes"] != s["n"]}
    assert summary["errors"] == 0 and not failed, failed
    assert summary["episodes"] == 5 * len(independent_tasks())


@pytest.mark.slow  # a CLI start-up: about 15 s on a busy machine
def test_the_independent_split_refuses_the_packaged_tasks(tmp_path):
    proc = saycan(
        "eval", "tasks=all", "split=independent", "planner=oracle", cwd=tmp_path, timeout=120
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "has no 'independent' instructions" in lines[0], proc.stderr

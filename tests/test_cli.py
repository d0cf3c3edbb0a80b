"""The `saycan` command: bad input gives one readable line and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


def saycan(*args: str, timeout: float = 120, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "saycan.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "task=no_such_task"], "unknown task 'no_such_task'"),
        (["run", "no_such_key=1"], "no_such_key"),
        (["run", "planner=no_such_planner"], "no_such_planner"),
        (["run", "instruction="], "instruction is empty"),
        (["run", "instruction='   '"], "instruction is empty"),
        (
            ["run", "task=/nonexistent/task.yaml"],
            "task file '/nonexistent/task.yaml' not found; looked in",
        ),
        (["frobnicate"], "unknown command"),
        (
            ["eval", "tasks=undo", "split=unseen", "planner=oracle", "executor=teleport"],
            "4 task(s) have no 'unseen' instructions",
        ),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(args, needle, tmp_path):
    proc = saycan(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("saycan: error:") and needle in lines[0]


def test_tasks_lists_packaged_tasks():
    proc = saycan("tasks")
    assert proc.returncode == 0
    assert "put_block_in_bowl" in proc.stdout and "infeasible_missing_object" in proc.stdout
    assert all(len(line.split()) >= 2 for line in proc.stdout.splitlines())  # name, family, ...
    assert proc.stderr.strip().endswith("tasks=undo (4 tasks)")  # the sets outside all

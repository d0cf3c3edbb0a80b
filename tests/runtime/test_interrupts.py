"""SIGINT/SIGTERM during `saycan run` and `saycan eval`: the episode stops with its files
written, one line on stderr, exit code 130; a sweep keeps its finished records and resumes.

Real `saycan` subprocesses. `safety.confirm=true` makes each skill wait for a "y" on stdin, so
the signal lands at a known point (the operator prompt of the second skill) without racing
the episode."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from saycan.eval.records import ResultsStore

CHEAP = ["planner=oracle", "executor=teleport", "safety.confirm=true", "frames=false", "quiet=true"]


def _start(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "saycan.cli", *args],
        cwd=cwd,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"saycan ended early ({proc.returncode}): {proc.stderr.read()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    pytest.fail(f"{path} never had {n} line(s)")


def _stderr_lines(text: str) -> list[str]:
    """stderr without the banner pybullet's C module prints on import."""
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("pybullet build")]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_after_the_first_step_writes_the_episode_and_exits_130(tmp_path, sig):
    proc = _start(
        "run",
        *CHEAP,
        "task=stack_blocks",
        "seed=0",
        "video=true",
        f"hydra.run.dir={tmp_path}",
        cwd=tmp_path,
    )
    proc.stdin.write("y\n")  # the first skill runs; the second waits for its "y"
    proc.stdin.flush()
    _wait_for_lines(tmp_path / "trace.jsonl", 1, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert _stderr_lines(err) == [
        f"saycan: interrupted by {sig.name}: episode stopped after 1 step(s); trace, "
        f"episode.json and video in {tmp_path}"
    ]
    assert "Traceback" not in out + err and '"stopped_by"' not in out  # no summary JSON line
    episode = json.loads((tmp_path / "episode.json").read_text())
    assert episode["stopped_by"] == "interrupted" and episode["steps"] == 1
    assert len(episode["plan"]) == 1 and episode["plan"][0].startswith("robot.pick_and_place(")
    trace = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert [t["step"] for t in trace] == [0]
    video = (tmp_path / "video.mp4").read_bytes()
    assert len(video) > 1000 and video[4:8] == b"ftyp"  # a complete MP4 container
    assert not list(tmp_path.glob(".*.tmp*"))  # no temporary files left behind


def test_interrupted_sweep_keeps_finished_records_and_resumes(tmp_path):
    args = [
        "eval",
        *CHEAP,
        "tasks=[put_block_in_bowl]",
        "episodes_per_task=3",
        f"output_dir={tmp_path}",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    results = tmp_path / "results.jsonl"
    proc = _start(*args, cwd=tmp_path)
    proc.stdin.write("y\n")  # episode 1's one skill; episode 2 then waits for its "y"
    proc.stdin.flush()
    _wait_for_lines(results, 1, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert _stderr_lines(err) == [
        f"saycan: interrupted by SIGINT: 1 finished episode(s) kept in {results}; the same "
        "command resumes the sweep"
    ]
    first = results.read_bytes()
    (record,) = ResultsStore(tmp_path)
    assert record["seed"] == 100000 and record["success"] is True

    resumed = _start(*args, cwd=tmp_path)
    out, err = resumed.communicate("y\ny\n", timeout=120)  # only the two missing episodes ask
    assert resumed.returncode == 0, err[-2000:]
    assert results.read_bytes().startswith(first)  # the kept record was not touched
    assert sorted(r["seed"] for r in ResultsStore(tmp_path)) == [100000, 100001, 100002]
    assert json.loads((tmp_path / "summary.json").read_text())["episodes"] == 3


_SIGNAL_DURING_CHECKS = (
    "import os, signal, sys\n"
    "import saycan.eval.runconfig as rc\n"
    "check = rc.check_command\n"
    "def signalled(*a):\n"
    "    os.kill(os.getpid(), signal.{sig})\n"
    "    return check(*a)\n"
    "rc.check_command = signalled\n"
    "from saycan.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_before_the_episode_starts_is_one_line_and_130(tmp_path, sig):
    # A real signal delivered while the run settings are checked (before Hydra runs the
    # episode): this was a 40-line KeyboardInterrupt traceback (SIGINT) or a silent kill.
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            _SIGNAL_DURING_CHECKS.format(sig=sig.name),
            "run",
            *CHEAP,
            f"hydra.run.dir={tmp_path / 'r'}",
        ],
        cwd=tmp_path,
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert _stderr_lines(proc.stderr) == [f"saycan: interrupted by {sig.name}"]
    assert proc.stdout == "" and not (tmp_path / "r" / "episode.json").exists()

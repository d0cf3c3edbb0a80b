"""What the `saycan` process writes to its streams, beyond the commands' own output."""

from __future__ import annotations

import subprocess
import sys


def test_a_bad_value_is_one_stderr_line_with_no_simulator_banner(tmp_path):
    # The workspace is refused when the safety gate wraps the simulated arm, after pybullet
    # has loaded.
    # pybullet's C banner would otherwise precede every one-line error of a sim command.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from saycan.cli import main; sys.exit(main())",
            "run",
            "safety.limits.workspace_max=[0.3,0.3,0.9]",
            "planner=oracle",
            "executor=teleport",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("saycan: error: safety.limits.workspace_max z = 0.9 m")


def test_a_reader_that_leaves_early_gets_no_traceback():
    # `saycan tasks | head -0`: the reading end is gone before the listing is written, so
    # the write fails with EPIPE every time, not only when the timing happens to allow it.
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from saycan.cli import main; sys.exit(main())",
                "tasks",
            ],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert done.stderr == ""

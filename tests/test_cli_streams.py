"""What the `saycan` process writes to its streams, beyond the commands' own output."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_simulator_prints_nothing_on_stderr():
    # pybullet's C banner would otherwise precede every one-line error of a sim command.
    done = subprocess.run(
        [sys.executable, "-c", "import saycan.sim.env"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0
    assert done.stderr == ""


def test_a_reader_that_leaves_early_gets_no_traceback():
    # `saycan tasks | head -0`: the reading end is gone before the listing is written, so
    # the write fails with EPIPE every time, not only when the timing happens to allow it.
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import sys; from saycan.cli import main; sys.exit(main())",
             "tasks"],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 1
    assert done.stderr == ""

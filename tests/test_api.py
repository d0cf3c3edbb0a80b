"""The Python API as README shows it: the example script decides on a scene built by hand,
with no simulator and no robot; bad overrides are typed errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from saycan.api import compose_config
from saycan.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "python_api" / "decide.py"


def test_the_example_decides_on_a_hand_built_scene():
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr
    assert "pybullet" not in proc.stderr.lower()  # no simulator was started
    lines = proc.stdout.strip().splitlines()
    rows = [ln.split() for ln in lines[1:-1]]
    combined = [float(r[-1]) for r in rows]
    assert len(rows) == 5 and combined == sorted(combined, reverse=True)  # ranked, every call
    assert all(0.0 <= float(r[-2]) <= 1.0 for r in rows)  # affordances
    assert lines[-1] == "chosen: robot.pick_and_place(red block, blue bowl)"


def test_overrides_mean_what_they_mean_on_the_command_line():
    cfg = compose_config(["executor=dry_run", "scene=random", "seed=4"])
    assert cfg.executor._target_.endswith("DryRunExecutor") and cfg.seed == 4
    assert cfg.scene.matched_pairs == 1
    with pytest.raises(ConfigError):
        compose_config(["planner=no_such_planner"])

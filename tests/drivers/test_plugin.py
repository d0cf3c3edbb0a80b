"""The out-of-tree example driver plugin (examples/driver_plugin, installed by `make setup`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

plugin = pytest.importorskip(
    "saycan_example_driver", reason="pip install -e examples/driver_plugin --no-deps"
)


def test_plugin_driver_conforms():
    from saycan.drivers import check_driver

    report = check_driver(plugin.ExampleArmDriver())
    assert report.driver == "example-arm"


def test_plugin_robot_runs_an_episode(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "robot=example_arm",
            "hydra.searchpath=[pkg://saycan_example_driver.conf]",
            "planner=oracle",
            "video=false",
            "frames=false",
            "quiet=true",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["success"] and summary["stopped_by"] == "done"
    trace = (tmp_path / "trace.jsonl").read_text()
    assert "pick_and_place" in trace

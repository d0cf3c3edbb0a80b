"""An instruction naming objects the scene lacks, or not the goal's objects, is said in the
output and recorded, instead of a silent failure (`saycan run instruction=...`)."""

from __future__ import annotations

import json
import subprocess
import sys

from saycan.runtime.mentions import absent_mentions, named_objects, unmentioned


def test_named_objects_reads_colour_and_category_once():
    assert named_objects("Put the Red blocks in the blue bowl, then the red block again") == [
        "red block",
        "blue bowl",
    ]
    assert named_objects("put it in the middle") == []


def test_absent_and_unmentioned():
    scene = ["pink block", "green bowl", "blue bowl"]
    assert absent_mentions("put the red block in the green bowl", scene) == ["red block"]
    assert absent_mentions("put the pink block in the green bowl", scene) == []
    assert unmentioned("put the red block in the middle", ["pink block", "green bowl"]) == [
        "pink block",
        "green bowl",
    ]


def _run(tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "planner=oracle",
            "executor=teleport",
            "video=false",
            "frames=false",
            "quiet=true",
            *overrides,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )


def test_run_warns_about_an_instruction_naming_an_absent_object(tmp_path):
    proc = _run(tmp_path, "instruction=put the red block in the middle")
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert record["instruction_mentions_absent"] == ["red block"]
    assert record["goal_not_mentioned"] == ["pink block", "green bowl"]
    assert "warning: the instruction names red block, not in this scene" in proc.stdout
    assert "does not name pink block, green bowl" in proc.stdout


def test_matching_instruction_has_empty_fields_and_no_warning(tmp_path):
    proc = _run(tmp_path, "instruction=pick up the pink block and drop it in the green bowl")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert record["instruction_mentions_absent"] == [] and record["goal_not_mentioned"] == []
    assert "warning:" not in proc.stdout

"""`saycan compare A B`: two configurations' records paired by episode, the difference tested by
sign flips over tasks; real `saycan eval` runs, and hand-worked p-values on written records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from saycan.cli import main

CHEAP = ["executor=teleport", "quiet=true", "hydra.callbacks.sweep.report=false"]


def _eval(out: Path, planner: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "saycan.cli", "eval", f"planner={planner}", "tasks=[single]"]
        + ["episodes_per_task=2", f"output_dir={out}", f"hydra.run.dir={out}_run", *CHEAP],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=out.parent,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def _compare(capsys, *dirs: Path) -> tuple[int, list[str], str]:
    code = main(["compare", *map(str, dirs)])
    captured = capsys.readouterr()
    return code, captured.out.strip().splitlines(), captured.err


def test_the_expert_against_random_choices_on_the_same_episodes(tmp_path: Path, capsys):
    oracle, random = tmp_path / "oracle", tmp_path / "random"
    _eval(oracle, "oracle")
    _eval(random, "random")
    code, out, err = _compare(capsys, random, oracle)
    assert code == 0, err
    result = json.loads(out[-1])
    assert result["episodes"] == 6 and result["tasks"] == 3  # `single`: three tasks, 2 seeds
    assert result["b_successes"] == 6  # the expert solves every one
    assert result["a_config"].startswith("planner=random")
    assert result["b_config"].startswith("planner=oracle")
    assert result["difference"] == result["b_successes"] - result["a_successes"] > 0
    assert result["gained"] - result["lost"] == result["difference"]
    assert result["unmatched"] == {"a": 0, "b": 0} and result["p_method"] == "exact"
    changed = result["tasks_changed"]
    # every changed task went the expert's way: only the all-positive pattern and its negation
    # reach the observed sum
    assert result["p_value"] == pytest.approx(2 / 2**changed)
    assert len(result["per_task"]) == changed
    assert out[2].startswith("6 shared episodes over 3 tasks")

    # a configuration against itself: nothing changed, nothing to test
    code, out, _ = _compare(capsys, oracle, oracle)
    same = json.loads(out[-1])
    assert (same["difference"], same["tasks_changed"], same["p_value"]) == (0, 0, 1.0)


def _records(path: Path, planner: str, wins: dict[str, list[bool]], split: str = "seen") -> Path:
    lines = [
        {
            "task": task,
            "family": "single",
            "split": split,
            "seed": seed,
            "success": won,
            "planner": planner,
            "llm": "none",
            "perception": "oracle",
            "affordance": "analytic",
            "executor": "teleport",
        }
        for task, outcomes in wins.items()
        for seed, won in enumerate(outcomes)
    ]
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def test_p_values_worked_by_hand(tmp_path: Path, capsys):
    # per task, B minus A: +2, +1, 0 -> sign patterns sum to 3, 1, -1, -3: |sum| >= 3 in 2 of 4
    a = _records(tmp_path / "a", "x", {"t1": [False, False], "t2": [True, False], "t3": [True]})
    b = _records(tmp_path / "b", "y", {"t1": [True, True], "t2": [True, True], "t3": [True]})
    _, out, _ = _compare(capsys, a, b)
    result = json.loads(out[-1])
    assert (result["difference"], result["tasks_changed"], result["p_value"]) == (3, 2, 0.5)
    assert result["null_sd"] == pytest.approx(5**0.5, abs=0.01)
    assert result["per_task"] == {
        "t1": {"episodes": 2, "a": 0, "b": 2},
        "t2": {"episodes": 2, "a": 1, "b": 2},
    }

    # 21 tasks, each gained: past exact counting, sampled from a fixed seed (p about 1e-6)
    many = {f"t{i}": [False] for i in range(21)}
    a = _records(tmp_path / "many_a", "x", many)
    b = _records(tmp_path / "many_b", "y", {t: [True] for t in many})
    _, out, _ = _compare(capsys, a, b)
    first = json.loads(out[-1])
    assert first["p_method"] == "sampled" and first["p_value"] < 1e-4
    _, out, _ = _compare(capsys, a, b)
    assert json.loads(out[-1])["p_value"] == first["p_value"]  # the same records, the same p


def test_what_cannot_be_paired_is_one_line(tmp_path: Path, capsys):
    a = _records(tmp_path / "a", "x", {"t1": [True]})
    disjoint = _records(tmp_path / "b", "y", {"t2": [True]})
    two = _records(tmp_path / "two", "x", {"t1": [True]})
    _records(tmp_path / "two" / "job1", "y", {"t1": [False]})  # a sweep of two planners
    for args, needle in [
        ([a, disjoint], "share no episode"),
        ([a, two], "holds 2 configurations"),
        ([a, tmp_path / "nothing"], "is not a directory"),
        ([a], "usage: saycan compare DIR_A DIR_B"),
    ]:
        code, out, err = _compare(capsys, *args)
        assert code == 2 and out == []
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("saycan: error:") and needle in lines[0]

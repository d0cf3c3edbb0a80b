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
    assert result["unmatched"] == {"a": 0, "b": 0} and result["crashed"] == {"a": 0, "b": 0}
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


def _records(
    path: Path, planner: str, wins: dict[str, list[bool | None]], family: str = "single"
) -> Path:
    """One record per outcome: True, False, or None for an episode that crashed."""
    lines = [
        {
            "task": task,
            "task_arg": f"{family}/{task}.yaml",
            "family": family,
            "split": "seen",
            "seed": seed,
            "success": bool(won),
            **({"error": "ScorerError: the server went away"} if won is None else {}),
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
        "t1": {"episodes": 2, "a": 0, "b": 2, "gained": 2, "lost": 0},
        "t2": {"episodes": 2, "a": 1, "b": 2, "gained": 1, "lost": 0},
    }

    # 30 tasks, each gained: only all-plus and all-minus reach 30, exactly, however many tasks
    many = {f"t{i}": [False] for i in range(30)}
    a = _records(tmp_path / "many_a", "x", many)
    b = _records(tmp_path / "many_b", "y", {t: [True] for t in many})
    _, out, _ = _compare(capsys, a, b)
    assert json.loads(out[-1])["p_value"] == float(f"{2 / 2**30:.4g}")

    # a task that gained one seed and lost another is listed though its net is zero
    a = _records(tmp_path / "even_a", "x", {"t1": [True, False], "t2": [False]})
    b = _records(tmp_path / "even_b", "y", {"t1": [False, True], "t2": [True]})
    _, out, _ = _compare(capsys, a, b)
    even = json.loads(out[-1])
    assert (even["gained"], even["lost"], even["tasks_changed"]) == (2, 1, 1)
    assert even["per_task"]["t1"] == {"episodes": 2, "a": 1, "b": 1, "gained": 1, "lost": 1}


def test_crashed_unmatched_and_same_named_tasks_are_said(tmp_path: Path, capsys):
    a = _records(tmp_path / "a", "x", {"t1": [True, True, True], "t2": [True]})
    b = _records(tmp_path / "b", "y", {"t1": [True, None]})  # one crash; t2 and a seed not run
    _, out, _ = _compare(capsys, a, b)
    result = json.loads(out[-1])
    assert result["crashed"] == {"a": 0, "b": 1} and result["unmatched"] == {"a": 2, "b": 0}
    assert (result["episodes"], result["difference"]) == (2, -1)  # the crash is a failure
    assert "B: 1 crashed episodes (counted as failures)" in out
    assert "left out, run by one side only: 2 episodes of A, 0 of B" in out

    # one task name in two families: two tasks, each named with its family
    a = _records(tmp_path / "fam_a", "x", {"pick": [True]}, family="f1")
    _records(tmp_path / "fam_a" / "more", "x", {"pick": [False]}, family="f2")
    b = _records(tmp_path / "fam_b", "y", {"pick": [False]}, family="f1")
    _records(tmp_path / "fam_b" / "more", "y", {"pick": [True]}, family="f2")
    _, out, _ = _compare(capsys, a, b)
    result = json.loads(out[-1])
    assert (result["tasks"], result["difference"], result["p_value"]) == (2, 0, 1.0)
    assert set(result["per_task"]) == {"f1/pick", "f2/pick"}
    assert result["per_family"]["f2"] == {"episodes": 1, "a": 0, "b": 1}


def test_what_cannot_be_paired_is_one_line(tmp_path: Path, capsys):
    a = _records(tmp_path / "a", "x", {"t1": [True]})
    disjoint = _records(tmp_path / "b", "y", {"t2": [True]})
    two = _records(tmp_path / "two", "x", {"t1": [True]})
    _records(tmp_path / "two" / "job1", "y", {"t1": [False]})  # a sweep of two planners
    clash = _records(tmp_path / "clash", "x", {"t1": [True]})
    (clash / "other" / "results.jsonl").parent.mkdir()
    record = json.loads((clash / "results.jsonl").read_text())
    record["task_arg"] = "elsewhere/t1.yaml"  # another file of the same name and family
    (clash / "other" / "results.jsonl").write_text(json.dumps(record) + "\n")
    nameless = tmp_path / "nameless"
    nameless.mkdir()
    (nameless / "results.jsonl").write_text(json.dumps({"seed": 1, "success": True}) + "\n")
    folder = tmp_path / "folder"
    (folder / "results.jsonl").mkdir(parents=True)  # a directory where the file should be
    for args, needle in [
        ([a, disjoint], "share no episode"),
        ([a, clash], "from different task files"),
        ([a, nameless], "names no task"),
        ([a, folder], "cannot read"),
        ([a, two], "holds 2 configurations"),
        ([a, tmp_path / "nothing"], "is not a directory"),
        ([a], "usage: saycan compare DIR_A DIR_B"),
    ]:
        code, out, err = _compare(capsys, *args)
        assert code == 2 and out == []
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("saycan: error:") and needle in lines[0]


def test_halves_that_differ_only_in_how_they_ran_are_one_configuration(tmp_path: Path, capsys):
    """Threads (an ensemble member's too) and Hydra's own settings change no decision; a
    planner option does."""

    def half(path: Path, task: str, label: str) -> None:
        _records(path, "saycan", {task: [True]})
        record = json.loads((path / "results.jsonl").read_text())
        (path / "results.jsonl").write_text(json.dumps({**record, "label": label}) + "\n")

    half(tmp_path / "a" / "one", "t1", "llm.members.0.num_threads=1")
    half(tmp_path / "a" / "two", "t2", "llm.members.0.num_threads=4,hydra.job.chdir=true")
    _records(tmp_path / "b", "saycan", {"t1": [False], "t2": [True]})
    code, out, err = _compare(capsys, tmp_path / "a", tmp_path / "b")
    assert code == 0, err
    assert json.loads(out[-1])["episodes"] == 2

    half(tmp_path / "c" / "one", "t1", "planner.done_bias=-1")
    half(tmp_path / "c" / "two", "t2", "planner.done_bias=-2")
    code, _, err = _compare(capsys, tmp_path / "c", tmp_path / "b")
    assert code == 2 and "holds 2 configurations" in err

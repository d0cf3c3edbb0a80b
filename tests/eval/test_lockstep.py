"""`saycan eval lockstep=N`: N episodes at once, their decisions scored together. Each
episode's record must equal the serial sweep's (timing, process id and output paths aside),
failures stay records, and interrupted episodes keep their files. Real PyBullet episodes; the
oracle keeps the language model out of the fast test, the slow one batches real SmolLM2
decisions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from saycan.eval.jobs import close_cached_components, run_episodes
from saycan.seeds import PLANNER_TRAINING

#: What may differ between a serial and a lockstep run of the same episodes.
NOT_COMPARED = {"wall_s", "decision_s", "s_per_decision", "pid", "trace", "traceback"}


def _sweep(
    overrides: list[str], episodes: list[tuple[str, int]], out: Path, *, job: bool = False
) -> dict[str, dict]:
    """`job`: as one job of a multirun sweep runs them, where a config error is a record."""
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("eval", overrides=["executor=teleport", *overrides])
    try:
        records = run_episodes(cfg, out, episodes, raise_build_errors=not job)
    finally:
        close_cached_components()
    assert [(r["task_arg"], r["seed"]) for r in records] == episodes  # in the episodes' order
    return {r["key"]: {k: v for k, v in r.items() if k not in NOT_COMPARED} for r in records}


def test_lockstep_records_equal_serial_and_failures_stay_records(tmp_path: Path):
    # an unknown task fails inside its episode: a record, and its slot is rebuilt
    episodes = [("put_block_in_bowl", 100000), ("no_such_task", 100000), ("stack_blocks", 100000)]
    base = ["planner=oracle"]
    serial = _sweep([*base, "lockstep=1"], episodes, tmp_path / "serial")
    together = _sweep([*base, "lockstep=2"], episodes, tmp_path / "lockstep")
    assert together == serial
    assert sum(bool(r.get("error")) for r in serial.values()) == 1
    assert sum(r["success"] for r in serial.values()) == 2


def test_lockstep_refuses_the_seeds_the_adapter_was_trained_on(tmp_path: Path):
    """Each episode sees the model through its slot's view; the view still names the
    adapter's training seeds, so a lockstep sweep refuses them as a serial one does."""
    seed = PLANNER_TRAINING.start + 3
    records = _sweep(["lockstep=2"], [("put_block_in_bowl", seed)], tmp_path, job=True)
    (record,) = records.values()
    assert not record["success"]
    assert "built from" in record["error"] and "smollm2_planner" in record["error"]


def test_lockstep_with_a_planner_that_scores_with_no_model_runs_its_episodes(tmp_path: Path):
    """generate_ground writes with its generator (`planner.scorer: null`): there is no shared
    model to batch on, and each slot builds its own planner."""
    records = _sweep(
        ["planner=generate_ground", "lockstep=2"], [("no_such_task", 100000)], tmp_path
    )
    (record,) = records.values()
    assert "no_such_task" in record["error"]  # the episode's own failure, as a record


@pytest.mark.slow
def test_lockstep_batches_real_decisions_and_changes_no_record(tmp_path: Path):
    """The default planner and model (SmolLM2 + adapter): one batched pass per round, and
    every record as the serial sweep's; traced log-probs agree to float rounding."""
    episodes = [
        ("put_block_in_bowl", 100000),
        ("stack_blocks", 100000),
        ("blocks_in_matching_bowls", 100000),
        ("put_block_on_block", 100001),
    ]
    serial = _sweep(["lockstep=1", "+llm.num_threads=2"], episodes, tmp_path / "serial")
    together = _sweep(["lockstep=3", "+llm.num_threads=2"], episodes, tmp_path / "lockstep")
    assert together == serial
    assert all(r["llm"] != "none" and r["decisions"] >= 1 for r in serial.values())
    for trace in (tmp_path / "serial").glob("episodes/*/*/*/trace.jsonl"):
        other = tmp_path / "lockstep" / trace.relative_to(tmp_path / "serial")
        for a, b in zip(trace.read_text().splitlines(), other.read_text().splitlines()):
            for x, y in zip(json.loads(a)["candidates"], json.loads(b)["candidates"]):
                if x["llm_logprob"] is not None:
                    assert abs(x["llm_logprob"] - y["llm_logprob"]) < 1e-3

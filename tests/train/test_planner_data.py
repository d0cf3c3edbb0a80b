"""Planner training data runs the loop as evaluation does: with a disturbance and feedback on,
the expert's decisions show the failed step (as the success detector judged it, which is what
the prompt will say) and the retry that recovers from it."""

from __future__ import annotations

from hydra import compose, initialize_config_module

from saycan.seeds import PLANNER_TRAINING
from saycan.train.planner import disturbed_data_config, recovery_examples
from saycan.train.planner_data import generate

SEED = PLANNER_TRAINING.start + 7


def _config(*overrides: str):
    with initialize_config_module("saycan.configs", version_base="1.3"):
        return compose("train_planner", overrides=list(overrides))


def _episode(*overrides: str) -> dict:
    (record,) = list(generate(_config(*overrides), [("put_block_in_bowl", SEED)]))
    assert "error" not in record, record.get("error")
    return record


KNOCK_ONCE = (
    "disturbance=knock_placed",
    "disturbance.probability=1.0",
    "disturbance.max_per_episode=1",
    "prompt.feedback=success",
)


def test_undisturbed_expert_data_is_one_step_and_done():
    record = _episode()
    assert record["success"]
    assert [d["target"] for d in record["decisions"]][-1] == "robot.done()"
    assert len(record["decisions"]) == 2 and record["decisions"][1]["history"][0]["success"] is True


def test_disturbed_expert_data_records_the_failure_and_the_retry():
    record = _episode(*KNOCK_ONCE)
    first, second = record["decisions"][0], record["decisions"][1]
    assert (
        second["history"][0]["success"] is False
    )  # the placed block was knocked away: detector says no
    assert second["target"] == first["target"]  # the expert tries the same call again
    assert record["success"] and record["decisions"][-1]["target"] == "robot.done()"


def test_recovery_examples_show_the_failure_and_target_the_retry():
    # the data config `saycan train planner disturbed.episodes_per_task=N` generates with
    cfg = disturbed_data_config(
        _config("disturbed.disturbance.probability=1.0", "disturbed.disturbance.max_per_episode=1")
    )
    (record,) = list(generate(cfg, [("put_block_in_bowl", SEED)]))
    examples = recovery_examples([record], _config().prompt)
    # only the decisions after the knock: the retry, then `done` once the block is back
    assert [target for _, target, _ in examples] == [d["target"] for d in record["decisions"][1:]]
    prompt, retry, candidates = examples[0]
    assert (
        "Success: no" in prompt
        and retry == record["decisions"][0]["target"]
        and retry in candidates
    )
    assert recovery_examples([_episode()], _config().prompt) == []  # nothing failed, nothing kept

"""Planner training data runs the loop as evaluation does: with a disturbance and feedback on,
the expert's decisions show the failed step (as the success detector judged it, which is what
the prompt will say) and the retry that recovers from it. Episodes whose goal is a state that
holds at their end give the decision "already done"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from saycan.errors import ConfigError
from saycan.seeds import PLANNER_TRAINING
from saycan.sim.tasks.families import undo_tasks
from saycan.train.planner import (
    disturbed_data_config,
    goal_holds_examples,
    parse_call,
    recovery_examples,
)
from saycan.train.planner_data import generate, load_or_generate

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


def test_the_data_says_which_goals_hold_again_in_their_final_scene():
    cases = {
        "put_block_in_bowl": True,  # the block in the bowl: asked again, nothing to do
        "stack_blocks": True,
        "nudge_block_right": False,  # its block is the one that stood in the centre band
        "corner_then_bowl": False,  # milestones: states to pass through, not one state
        "covered_block_in_bowl": False,  # "the block under ..." is no longer under anything
        "reachable_blocks_in_bowl": False,  # "the blocks you can reach": one is left out
        "infeasible_missing_bowl": False,  # nothing could be done, which is not "done"
    }
    records = list(generate(_config(), [(task, SEED) for task in cases]))
    assert all(r["success"] for r in records), [r.get("error") or r["unmet"] for r in records]
    assert {r["task"]: r["goal_holds_at_end"] for r in records} == cases


def test_goal_holds_examples_ask_for_done_in_the_final_scene_with_nothing_done_yet():
    cfg = _config()
    records = list(generate(cfg, [("put_block_in_bowl", SEED), ("nudge_block_right", SEED)]))
    modes = list(cfg.feedback_modes)
    (example,) = goal_holds_examples(records, cfg.prompt, modes, 1.0, np.random.default_rng(0))
    prompt, target, candidates = example
    placed, done = records[0]["decisions"]
    assert target == done["target"] == "robot.done()" and candidates == done["candidates"]
    # the scene is the one after the step (the block in the bowl), and no call was made so far
    ((block, relation, bowl),) = done["scene"]["relations"]
    assert f"{block} {relation} {bowl}" in prompt and placed["target"] not in prompt
    assert prompt.rstrip().endswith(records[0]["instruction"])
    assert goal_holds_examples(records, cfg.prompt, modes, 0.0, np.random.default_rng(0)) == []


NUDGE_ANY_BLOCK = """\
name: nudge_any_block
family: relative_place
description: An offset from where the block stood, its block picked out by colour alone.
scene:
  blocks: {min: 1, max: 2}
  bowls: {min: 0, max: 1}
roles:
  A: {category: block}
instructions:
  seen: ["move the {A} a bit to the right"]
goal:
  - {pred: offset, args: [A], side: right}
max_steps: 3
"""


def test_a_move_relative_to_the_start_does_not_hold_again_at_the_end(tmp_path):
    task = tmp_path / "nudge_any_block.yaml"
    task.write_text(NUDGE_ANY_BLOCK)
    (record,) = list(generate(_config(), [(str(task), SEED)]))
    assert record["success"], record.get("error") or record["unmet"]
    assert record["goal_holds_at_end"] is False  # asked again, the block moves again


def test_goal_holds_examples_refuse_an_episode_cache_that_predates_the_flag():
    cfg = _config()
    (record,) = list(generate(cfg, [("put_block_in_bowl", SEED)]))
    del record["goal_holds_at_end"]
    with pytest.raises(ConfigError, match="fresh data= path"):
        goal_holds_examples([record], cfg.prompt, ["none"], 0.5, np.random.default_rng(0))


def test_the_expert_undoes_what_each_undo_scene_starts_with():
    for path in undo_tasks():
        (record,) = list(generate(_config(), [(path, SEED)]))
        assert record["success"], (path, record.get("error") or record["unmet"])
        first, last = record["decisions"][0], record["decisions"][-1]
        moved = parse_call(first["target"]).args[0]
        # the scene shows the relation the instruction asks to undo; the last one no longer does
        assert [r for r in first["scene"]["relations"] if r[0] == moved], path
        assert not [r for r in last["scene"]["relations"] if r[0] == moved], path
        assert last["target"] == "robot.done()" and not record["goal_holds_at_end"]


def test_a_task_file_is_cached_by_its_content_under_any_path(tmp_path, monkeypatch):
    cfg, cache = _config(), tmp_path / "episodes.jsonl"
    task = tmp_path / "tasks" / "off.yaml"
    task.parent.mkdir()
    task.write_text(Path(undo_tasks()[0]).read_text())
    first = load_or_generate(cache, cfg, [str(task)], [SEED])
    written = cache.read_text()
    assert first[0]["success"] and len(written.splitlines()) == 1
    monkeypatch.chdir(tmp_path)  # the same file by a relative path: read, not generated again
    assert load_or_generate(cache, cfg, ["tasks/off.yaml"], [SEED]) == first
    assert cache.read_text() == written
    task.write_text(task.read_text().replace("max_steps: 3", "max_steps: 4"))
    edited = load_or_generate(cache, cfg, [str(task)], [SEED])  # an edited task is a new one
    assert edited[0]["task_key"] != first[0]["task_key"]
    assert len(cache.read_text().splitlines()) == 2


def test_an_old_cache_is_read_back_by_task_name_and_lines_that_are_not_records_are_skipped(
    tmp_path,
):
    cfg, cache = _config(), tmp_path / "episodes.jsonl"
    (record,) = list(generate(cfg, [("put_block_in_bowl", SEED)]))  # as caches held it before
    assert "task_key" not in record
    cache.write_text('[1]\n"text"\n{"seed": "abc"}\n' + json.dumps(record) + "\n")
    assert load_or_generate(cache, cfg, ["put_block_in_bowl"], [SEED]) == [record]
    assert len(cache.read_text().splitlines()) == 4  # read back, nothing generated


def test_a_cache_written_under_other_data_options_is_not_read_back_as_these(tmp_path):
    cache = tmp_path / "episodes.jsonl"
    plain = load_or_generate(cache, _config(), ["ordered_tower_three"], [SEED])
    assert "data_options" not in plain[0]
    grammar = _config("instructions.grammar_share=1.0", "instructions.grammar_goals=[tower]")
    written = load_or_generate(cache, grammar, ["ordered_tower_three"], [SEED])
    assert written[0]["instruction_source"] == "grammar"
    assert written[0]["instruction"] != plain[0]["instruction"]
    assert len(cache.read_text().splitlines()) == 2  # generated, not the plain record
    other = _config("instructions.grammar_share=1.0", "instructions.grammar_goals=[in]")
    assert (
        load_or_generate(cache, other, ["ordered_tower_three"], [SEED])[0]["data_options"]
        != (written[0]["data_options"])
    )
    assert load_or_generate(cache, grammar, ["ordered_tower_three"], [SEED]) == written
    assert load_or_generate(cache, _config(), ["ordered_tower_three"], [SEED]) == plain
    assert len(cache.read_text().splitlines()) == 3  # both read back, nothing generated

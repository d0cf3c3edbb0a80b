"""The independent evaluation set: frozen instructions, one task file each, run only as its own
split (never part of tasks=all, families, seen or unseen)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

import saycan
from saycan.errors import ConfigError
from saycan.eval.jobs import tasks_for_split
from saycan.seeds import EVALUATION_START, PLANNER_TRAINING
from saycan.sim.tasks import Task, available_tasks, load_task
from saycan.sim.tasks.families import expand_tasks, task_families
from saycan.sim.tasks.independent_set import frozen_instructions, independent_tasks, instruction_id

FROZEN = {f.id: f for f in frozen_instructions()}
TASKS = {Path(p).stem: load_task(p) for p in independent_tasks()}
#: The seeds `saycan eval` gives the split (`seed_start` and 5 per instruction).
EVAL_SEEDS = range(EVALUATION_START, EVALUATION_START + 5)


def test_every_task_file_holds_its_frozen_instruction_and_nothing_else():
    assert len(TASKS) >= 100
    for name, spec in TASKS.items():
        frozen = FROZEN[instruction_id(name)]
        assert spec.name == name and spec.family.startswith("independent_")
        assert spec.instructions.independent == (frozen.text,), name
        assert not spec.instructions.seen and not spec.instructions.unseen
        assert not frozen.status, f"{name}: {frozen.status}"


def test_every_instruction_has_a_task_file_or_says_why_not():
    with_file = {instruction_id(n) for n in TASKS}
    assert len(FROZEN) >= 110
    for i, f in FROZEN.items():
        if i in with_file:
            continue
        assert f.status.startswith(("not yet expressible: ", "excluded: ")), (i, f.text)
    assert len(with_file) == len(TASKS)  # one file per instruction


def test_the_split_is_not_part_of_all_families_seen_or_unseen():
    independent = set(independent_tasks())
    assert not independent & set(expand_tasks("all"))
    assert not any(name.startswith("ind") and name[3:6].isdigit() for name in available_tasks())
    assert not any(f.startswith("independent") for f in task_families())
    assert expand_tasks("independent") == independent_tasks()
    for split in ("seen", "unseen", "unseen_colours"):
        with pytest.raises(ConfigError, match="tasks=independent split=independent"):
            tasks_for_split(expand_tasks("independent"), split)
    with pytest.raises(ConfigError, match="has no 'independent' instructions"):
        tasks_for_split(expand_tasks("all"), "independent")
    with pytest.raises(ConfigError, match="tasks=independent"):
        Task("put_block_in_bowl", split="independent")
    first = next(iter(TASKS.values()))
    with pytest.raises(ConfigError, match="no 'seen' instructions"):
        Task(first, split="seen")


def test_each_task_samples_its_text_and_an_expert_plan_on_the_evaluation_seeds():
    """Scenes fit and plans fit the budget (two seeds here; tests/eval/test_independent_eval.py
    runs the expert on all five)."""
    for name, spec in TASKS.items():
        task = Task(spec, split="independent")
        for seed in EVAL_SEEDS[:2]:
            instance = task.sample(np.random.default_rng(seed))
            assert instance.instruction == FROZEN[instruction_id(name)].text
            assert instance.split == "independent"
            assert len(instance.expert_plan()) <= spec.max_steps, (name, seed)


def test_evaluation_seeds_are_disjoint_from_what_the_planner_was_built_from():
    planner_dir = Path(saycan.__file__).parent / "assets" / "planner"
    with gzip.open(planner_dir / "example_pool.jsonl.gz", "rt") as f:
        pool = [json.loads(line) for line in f]
    adapters = [json.loads(p.read_text()) for p in planner_dir.glob("*/saycan_adapter.json")]
    pool_seeds = {int(r["seed"]) for r in pool}
    adapter_seeds = [range(*a["training_seeds"]) for a in adapters]
    assert pool_seeds and adapter_seeds
    for seed in EVAL_SEEDS:
        assert seed not in pool_seeds and seed not in PLANNER_TRAINING
        assert not any(seed in trained for trained in adapter_seeds)


def test_a_task_file_mixing_independent_with_seen_instructions_is_refused(tmp_path):
    text = (
        Path(independent_tasks()[0])
        .read_text()
        .replace("instructions:\n", "instructions:\n  seen: [put the block away]\n")
    )
    path = tmp_path / "mixed.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="only `independent` instructions"):
        load_task(path)

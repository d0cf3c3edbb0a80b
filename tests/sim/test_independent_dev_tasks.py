"""The development twin of the independent set: written the same way, used to choose between
planner variants, run as `tasks=independent_dev split=independent`, never part of tasks=all and
never the same text as the frozen set it stands in for."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from saycan.seeds import DEVELOPMENT
from saycan.sim.tasks import Task, load_task
from saycan.sim.tasks.families import expand_tasks
from saycan.sim.tasks.independent_set import (
    development_instructions,
    frozen_instructions,
    independent_dev_tasks,
    word_bag,
)

LINES = {i.id: i for i in development_instructions()}
TASKS = {Path(p).stem: load_task(p) for p in independent_dev_tasks()}


def test_every_task_file_holds_its_line_and_every_line_a_file_or_a_reason():
    assert len(TASKS) >= 40
    for name, spec in TASKS.items():
        line = LINES[name.split("_")[0]]
        assert spec.name == name and spec.family.startswith("independent_dev_")
        assert spec.instructions.independent == (line.text,), name
        assert not spec.instructions.seen and not spec.instructions.unseen
        assert not line.status, name
    with_file = {name.split("_")[0] for name in TASKS}
    for i, line in LINES.items():
        assert i in with_file or line.status.startswith(("not yet expressible: ", "excluded: ")), i


def test_it_runs_only_by_its_keyword_and_shares_no_instruction_with_the_frozen_set():
    assert expand_tasks("independent_dev") == independent_dev_tasks()
    assert not set(independent_dev_tasks()) & set(expand_tasks("all"))
    evaluated = {word_bag(f.text) for f in frozen_instructions() if not f.status}
    assert not [
        n for n, spec in TASKS.items() if word_bag(spec.instructions.independent[0]) in evaluated
    ]


def test_each_task_samples_its_text_and_an_expert_plan_on_the_development_seeds():
    for name, spec in TASKS.items():
        task = Task(spec, split="independent")
        for seed in list(DEVELOPMENT)[:2]:
            instance = task.sample(np.random.default_rng(seed))
            assert instance.instruction == LINES[name.split("_")[0]].text
            assert len(instance.expert_plan()) <= spec.max_steps, (name, seed)


def test_it_is_refused_with_the_frozen_set_in_one_run_and_in_other_splits():
    import pytest

    from saycan.errors import ConfigError
    from saycan.eval.jobs import tasks_for_split

    with pytest.raises(ConfigError, match="mixes the independent set with its development twin"):
        tasks_for_split(expand_tasks(["independent_dev", "independent"]), "independent")
    with pytest.raises(ConfigError, match="tasks=independent_dev split=independent"):
        tasks_for_split(expand_tasks("independent_dev"), "seen")

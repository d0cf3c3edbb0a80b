"""The undo set: tasks whose scene shows what the instruction asks to change (a block in a
bowl, a block on a block). Planner training may add them (`tasks=undo`); they stay out of
`all`, so the suite's figures keep their denominators."""

from __future__ import annotations

import pytest

from saycan.errors import UnknownTaskError
from saycan.sim.tasks import available_tasks, load_task
from saycan.sim.tasks.families import expand_tasks, undo_tasks
from saycan.sim.tasks.independent_set import (
    development_instructions,
    frozen_instructions,
    word_bag,
)
from saycan.sim.tasks.spec import PLACEHOLDER

TASKS = {p: load_task(p) for p in undo_tasks()}


def test_it_runs_by_its_keyword_and_is_not_part_of_all():
    assert len(TASKS) == 4
    assert expand_tasks("undo") == undo_tasks()
    assert not {spec.name for spec in TASKS.values()} & set(available_tasks())
    assert {spec.family for spec in TASKS.values()} == {"undo"}


def test_its_templates_are_training_text_and_say_no_evaluated_instruction():
    evaluated = {word_bag(i.text) for i in (*frozen_instructions(), *development_instructions())}
    for path, spec in TASKS.items():
        assert spec.instructions.seen and not spec.instructions.unseen, path
        # each slot as its role's object in some colour (colours are masked anyway)
        categories = {name: role.category for name, role in spec.roles.items()}
        for template in spec.instructions.seen:
            text = PLACEHOLDER.sub(lambda m, c=categories: f"red {c[m.group(1)]}", template)
            assert word_bag(text) not in evaluated, (path, template)


def test_a_member_named_alone_is_unknown_and_the_error_names_the_keyword():
    with pytest.raises(UnknownTaskError, match="tasks=undo"):
        expand_tasks(["block_off_block"])

"""The colour generalisation split: training scenes never show the held-out colours, and the
`unseen_colours` split names objects in exactly those colours."""

from __future__ import annotations

import numpy as np
import pytest

from saycan.errors import ConfigError
from saycan.eval.jobs import tasks_for_split
from saycan.sim.tasks import Task, available_tasks, load_task
from saycan.sim.tasks.colour_split import HELD_OUT_COLOURS, seen_colours, supports_unseen_colours
from saycan.sim.tasks.families import expand_tasks


def test_seen_colour_scenes_never_contain_held_out_colours():
    for name in available_tasks():
        task = Task(seen_colours(load_task(name)), split="seen")
        for seed in range(5):
            instance = task.sample(np.random.default_rng(seed))
            colours = {o.colour for o in instance.objects}
            assert not colours & set(HELD_OUT_COLOURS), (name, seed, colours)
            assert not any(c in instance.instruction for c in HELD_OUT_COLOURS)


def test_unseen_colours_instruction_names_a_held_out_colour_with_seen_templates():
    for name in available_tasks():
        spec = load_task(name)
        if not supports_unseen_colours(spec):
            with pytest.raises(ConfigError, match="no unseen-colours variant"):
                Task(name, split="unseen_colours")
            continue
        instance = Task(name, split="unseen_colours").sample(np.random.default_rng(0))
        assert instance.template in spec.instructions.seen
        bound = [b for b in instance.bindings.values() if getattr(b, "category", "") != "location"]
        assert any(b.colour in HELD_OUT_COLOURS for b in bound), (name, instance.bindings)


def test_a_family_sweep_keeps_only_tasks_with_the_split():
    structured = expand_tasks("structured")
    kept = tasks_for_split(structured, "unseen_colours")
    assert "stack_blocks" in structured and "stack_blocks" not in kept
    assert kept and all(supports_unseen_colours(load_task(t)) for t in kept)
    assert tasks_for_split(structured, "seen") == structured
    with pytest.raises(ConfigError):
        tasks_for_split(["stack_blocks"], "unseen_colours")

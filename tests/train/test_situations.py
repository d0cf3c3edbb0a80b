"""Scene variants for the planner data: each changes only what it says, and leaves alone the
tasks it does not fit (the expert solving them is checked, slow, in test_planner_data_grammar)."""

from __future__ import annotations

import numpy as np

from saycan.sim.tasks import Task, load_task
from saycan.sim.tasks.colour_split import seen_colours
from saycan.sim.tasks.families import expand_tasks
from saycan.train.situations import BowlsInGroup, HeldDistractor, MinimalScene, MorePairs, choose
from saycan.world import COLOUR_GROUPS


def _spec(name: str):
    return seen_colours(load_task(name))


def test_held_distractor_puts_an_unnamed_block_in_the_hand():
    spec = HeldDistractor().apply(_spec("put_block_in_bowl"), np.random.default_rng(0))
    inst = Task(spec).sample(np.random.default_rng(1))
    assert inst.held == inst.bindings["held_extra"] != inst.bindings["A"]
    assert spec.goal == _spec("put_block_in_bowl").goal
    # a block to leave alone, or one per corner: one more held block would change the task
    for name in ("warm_blocks_in_bowl", "blocks_in_different_corners", "holding_block_then_other"):
        assert HeldDistractor().apply(_spec(name), np.random.default_rng(0)) is None


def test_minimal_scene_has_only_the_roles_objects():
    spec = MinimalScene().apply(_spec("put_block_in_bowl"), np.random.default_rng(0))
    inst = Task(spec).sample(np.random.default_rng(2))
    assert sorted(o.name for o in inst.objects) == sorted(map(str, inst.bindings.values()))
    spec = MinimalScene().apply(_spec("put_block_on_block"), np.random.default_rng(0))
    assert (spec.scene.blocks.max, spec.scene.bowls.max) == (2, 0)
    # a goal over every block keeps the task's own count
    spec = MinimalScene().apply(_spec("all_blocks_in_one_bowl"), np.random.default_rng(0))
    assert spec.scene.blocks.min == spec.scene.blocks.max == 2


def test_bowls_in_group_colours_the_sorted_into_bowls():
    for seed in range(4):
        spec = BowlsInGroup().apply(_spec("sort_by_warmth"), np.random.default_rng(seed))
        inst = Task(spec).sample(np.random.default_rng(seed))
        for role in ("B", "C"):
            colour = inst.bindings[role].colour
            assert any(colour in group for group in COLOUR_GROUPS.values())
    assert BowlsInGroup().apply(_spec("put_block_in_bowl"), np.random.default_rng(0)) is None


def test_more_pairs_matches_three_or_four():
    counts = set()
    for seed in range(6):
        spec = MorePairs().apply(_spec("blocks_in_matching_bowls"), np.random.default_rng(seed))
        inst = Task(spec).sample(np.random.default_rng(seed))
        bowls = {o.colour for o in inst.objects if o.category == "bowl"}
        counts.add(sum(o.category == "block" and o.colour in bowls for o in inst.objects))
    assert counts == {3, 4}


def test_choose_keeps_the_task_when_no_variant_applies():
    spec = _spec("blocks_in_horizontal_line")
    variants = [HeldDistractor(), BowlsInGroup(), MorePairs()]
    assert choose(spec, variants, np.random.default_rng(0)) == (spec, None)


def test_which_training_tasks_the_rare_variants_fit():
    """Why `more_pairs` and `bowls_in_group` are rare in training data (docs/planning.md): of
    the training families' tasks they fit one and three (none is in `exclude_tasks`), and each
    variant that applies to a task is drawn with equal chance."""
    tasks = expand_tasks(
        ["single", "structured", "spatial", "paraphrase", "abstract", "embodiment",
         "infeasible", "long_horizon"]
    )  # fmt: skip
    rng = np.random.default_rng(0)
    fits = {
        v.name: sorted(t for t in tasks if v.apply(load_task(t), rng) is not None)
        for v in (MorePairs(), BowlsInGroup())
    }
    assert fits == {
        "more_pairs": ["blocks_in_matching_bowls"],
        "bowls_in_group": ["cool_blocks_in_bowl", "sort_by_warmth", "warm_blocks_in_bowl"],
    }

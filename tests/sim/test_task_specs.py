"""Task specs are data: every packaged spec validates, samples reproducibly, and its expert plan
is well-formed; malformed files fail with one line naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from saycan.drivers.types import ObjectState
from saycan.errors import ConfigError, UnknownTaskError
from saycan.sim.tasks import Task, available_tasks, load_task
from saycan.skills.done import DONE

FIRST_TASKS = {
    "put_block_in_bowl",
    "put_block_on_block",
    "stack_blocks",
    "blocks_in_matching_bowls",
    "infeasible_missing_object",
}


def test_first_tasks_are_packaged_and_valid():
    assert FIRST_TASKS <= set(available_tasks())
    for name in available_tasks():
        spec = load_task(name)
        assert spec.name == name
        assert len(spec.instructions.seen) >= 3


@pytest.mark.parametrize("name", sorted(FIRST_TASKS))
def test_sampling_is_seeded_and_consistent(name):
    task = Task(name)
    a = task.sample(np.random.default_rng(3))
    b = task.sample(np.random.default_rng(3))
    assert a.objects == b.objects and a.instruction == b.instruction
    names = [o.name for o in a.objects]
    assert len(names) == len(set(names)), "object names must be unique"
    plan = a.expert_plan()
    assert plan[-1] == DONE
    for call in plan[:-1]:
        assert call.args[0] in names and call.args[1] in names


def test_infeasible_task_names_an_absent_object():
    inst = Task("infeasible_missing_object").sample(np.random.default_rng(0))
    absent = inst.bindings["A"]
    assert absent not in [o.name for o in inst.objects]
    assert absent in inst.instruction
    assert inst.expert_plan() == [DONE]


def _states(**positions) -> list[ObjectState]:
    out = []
    for name, pos in positions.items():
        colour, category = name.split("_")
        size = (0.04, 0.04, 0.04) if category == "block" else (0.15, 0.15, 0.04)
        out.append(ObjectState(f"{colour} {category}", category, colour, pos, size=size))
    return out


def test_predicates_judge_final_states():
    inst = Task("put_block_on_block").sample(np.random.default_rng(0))
    a, b = inst.bindings["A"], inst.bindings["B"]
    base = {
        o.name: (o.xy[0], o.xy[1], 0.02 if o.category == "block" else 0.02) for o in inst.objects
    }
    initial = _states(**{k.replace(" ", "_"): v for k, v in base.items()})
    assert inst.success(initial, initial) == (False, ["on(A, B)"])
    bx, by, _ = base[b]
    stacked = dict(base, **{a: (bx + 0.005, by, 0.06)})
    final = _states(**{k.replace(" ", "_"): v for k, v in stacked.items()})
    assert inst.success(initial, final) == (True, [])


def test_nothing_moved_fails_when_something_moved_or_fell():
    inst = Task("infeasible_missing_object").sample(np.random.default_rng(0))
    initial = _states(red_block=(0.5, 0.0, 0.02), blue_bowl=(0.4, 0.1, 0.02))
    assert inst.success(initial, initial)[0]
    moved = _states(red_block=(0.6, 0.0, 0.02), blue_bowl=(0.4, 0.1, 0.02))
    assert not inst.success(initial, moved)[0]
    assert not inst.success(initial, initial[1:])[0]  # an object disappeared


def test_unknown_task_lists_the_available_ones():
    with pytest.raises(UnknownTaskError, match="put_block_in_bowl"):
        load_task("no_such_task")


BASE = """
name: my_task
family: single
scene: {blocks: 2, bowls: 1}
roles: {A: {category: block}, B: {category: bowl}}
instructions: {seen: ["put the {A} in the {B}"]}
goal: [{pred: in, args: [A, B]}]
max_steps: 3
"""


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda t: t.replace("max_steps: 3\n", ""), "max_steps"),
        (
            lambda t: t.replace(
                "scene: {blocks: 2, bowls: 1}",
                "scene: {blocks: 2, bowls: 1, colours: [red, mauve]}",
            ),
            "scene.colours",
        ),
        (
            lambda t: t.replace("scene: {blocks: 2, bowls: 1}", "scene: {blocks: 2, bowls: 0}"),
            "impossible scene",
        ),
        (lambda t: t.replace("args: [A, B]", "args: [A, C]"), "unknown role"),
        (lambda t: t + "colour: red\n", "colour"),
        # schema additions: role constraints, quantifiers, places
        (
            lambda t: t.replace("A: {category: block}", "A: {category: block, colour: mauve}"),
            "roles.A.colour",
        ),
        (
            lambda t: t.replace("A: {category: block}", "A: {category: block, region: attic}"),
            "roles.A.region",
        ),
        (lambda t: t.replace("A: {category: block}", "A: {category: block, on: A}"), "roles.A.on"),
        (
            lambda t: t.replace("{pred: in, args: [A, B]}", "{pred: near, args: [A, B]}"),
            "goal.0.pred",
        ),
        (lambda t: t.replace("{pred: in, args: [A, B]}", "{pred: in, args: [each, B]}"), "goal.0"),
        (
            lambda t: t.replace("{pred: in, args: [A, B]}", "{pred: at, args: [A, kitchen]}"),
            "goal.0",
        ),
        (lambda t: t.replace("{pred: in, args: [A, B]}", "{pred: in, args: [A]}"), "goal.0"),
        (
            lambda t: t.replace(
                "scene: {blocks: 2, bowls: 1}", "scene: {blocks: 2, bowls: 1, colours: [red, blue]}"
            ),
            "impossible scene",
        ),
        (
            lambda t: t.replace("{seen: [", '{seen: ["put the {C} in the {B}", '),
            "instructions.seen",
        ),
    ],
)
def test_malformed_task_file_gives_one_line_naming_file_and_field(tmp_path: Path, edit, field):
    path = tmp_path / "my_task.yaml"
    path.write_text(edit(BASE))
    with pytest.raises(ConfigError) as info:
        load_task(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and field in message


def test_user_task_file_loads(tmp_path: Path):
    path = tmp_path / "my_task.yaml"
    path.write_text(BASE)
    inst = Task(str(path)).sample(np.random.default_rng(1))
    assert inst.name == "my_task" and "bowl" in inst.instruction

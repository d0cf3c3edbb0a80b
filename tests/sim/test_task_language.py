"""The task language beyond final-state predicates: assignments with distinctness, milestones
(states to pass through, checked at every step), lines, the sides of objects as places, and
offsets. Bad specs are one-line errors naming the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from saycan.drivers.types import ObjectState, Observation
from saycan.errors import ConfigError
from saycan.perception.relations import describe_scene
from saycan.perception.scene import SceneObject
from saycan.planner.success import SceneSuccessDetector
from saycan.sim import geometry
from saycan.sim.objects import object_size
from saycan.sim.scene_spec import LOCATIONS
from saycan.sim.tasks import Task, load_task
from saycan.sim.tasks.instance import MilestoneTracker
from saycan.skills.types import SkillCall

HEAD = """name: t
family: f
scene: {blocks: 3, bowls: 2}
roles:
  A: {category: block}
  B: {category: bowl}
instructions: {seen: ["do it"]}
max_steps: 6
"""


def spec_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "t.yaml"
    path.write_text(HEAD + body)
    return path


GOOD = {
    "distinct": "goal:\n  - {pred: in, args: [each, any], each: {category: block},"
    " any: {category: bowl}, distinct: true}\n",
    "places": "goal:\n  - {pred: at, args: [each, any], each: {category: block},"
    " any: {category: location, choices: [top left corner, middle]}, distinct: true}\n",
    "line": "goal:\n  - {pred: line, args: [each], each: {category: block},"
    " axis: diagonal, tolerance: 0.02}\n",
    "beside": "goal:\n  - {pred: beside, args: [A, B], side: front}\n",
    "offset": "goal:\n  - {pred: offset, args: [A], side: behind}\n",
    "milestones": "milestones:\n  order: ordered\n  states:\n    - {pred: at, args: [A, middle]}\n"
    "    - {pred: in, args: [A, B]}\n",
}


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_each_new_predicate_parses(tmp_path: Path, kind: str):
    spec = load_task(spec_file(tmp_path, GOOD[kind]))
    assert spec.goal or spec.milestones.states


BAD = [
    (
        "goal:\n  - {pred: in, args: [each, B], each: {category: block}, distinct: true}\n",
        "field 'goal.0': `distinct` needs both an `each` and an `any` argument",
    ),
    (
        "goal:\n  - {pred: line, args: [each], each: {category: block}}\n",
        "field 'goal.0': `axis` goes with line, which needs it",
    ),
    (
        "goal:\n  - {pred: line, args: [each], each: {category: block}, axis: slanted}\n",
        "field 'goal.0.axis': Input should be 'horizontal', 'vertical' or 'diagonal'",
    ),
    (
        "goal:\n  - {pred: line, args: [each], each: {category: block},"
        " axis: vertical, tolerance: 0.5}\n",
        "field 'goal.0.tolerance': Input should be less than or equal to 0.1",
    ),
    (
        "goal:\n  - {pred: line, args: [A], axis: vertical}\n",
        "field 'goal.0': line takes [each] (with a block selector) or at least 2 blocks",
    ),
    (
        "goal:\n  - {pred: beside, args: [A, B]}\n",
        "field 'goal.0': `side` goes with beside and offset, which need it",
    ),
    (
        "goal:\n  - {pred: offset, args: [B], side: left}\n",
        "field 'goal.0': offset() moves blocks; 'B' is not one",
    ),
    (
        "goal:\n  - {pred: in, args: [A, any], any: {category: location}}\n",
        "field 'goal.0': only at() takes a location selector",
    ),
    (
        "goal:\n  - {pred: at, args: [A, any], any: {category: location, colour: red}}\n",
        "field 'goal.0.any': a location selector takes only `choices`",
    ),
    (
        "milestones:\n  order: ordered\n  states: []\n",
        "field 'milestones.states': Tuple should have at least 1 item after validation, not 0",
    ),
    (
        "milestones:\n  order: sometimes\n  states:\n    - {pred: at, args: [A, middle]}\n",
        "field 'milestones.order': Input should be 'ordered' or 'unordered'",
    ),
    (
        "milestones:\n  order: ordered\n  states:\n    - {pred: at, args: [Z, middle]}\n",
        "field 'milestones.states.0': predicate 'at' names unknown role 'Z'",
    ),
    ("", "field '(top level)': a task needs a goal, milestones, or both"),
]


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ("  A: {category: block, closest_to: B}", ""),
        (
            "  A: {category: block, closest_to: A}",
            "field 'roles.A': closest needs another present block or bowl role",
        ),
        (
            "  A: {category: block, farthest_from: B, colour: red}",
            "field 'roles.A': closest_to / farthest_from pick",
        ),
        (
            "  A: {category: block, closest_to: B, farthest_from: B}",
            "field 'roles.A': a role is either",
        ),
    ],
)
def test_closest_and_farthest_roles(tmp_path: Path, roles: str, message: str):
    path = tmp_path / "t.yaml"
    path.write_text(
        HEAD.replace("  A: {category: block}", roles) + "goal:\n  - {pred: in, args: [A, B]}\n"
    )
    if message:
        with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
            load_task(path)
        return
    task = Task(load_task(path))
    for seed in range(5):  # the bound block is the nearest, by a clear margin
        inst = task.sample(np.random.default_rng(seed))
        xy = {o.name: o.xy for o in inst.objects}
        bowl = xy[str(inst.bindings["B"])]
        ranked = sorted((geometry.xy_distance(xy[n], bowl), n) for n in xy if n.endswith("block"))
        assert ranked[0][1] == inst.bindings["A"] and ranked[1][0] - ranked[0][0] >= 0.05


@pytest.mark.parametrize(("body", "message"), BAD)
def test_bad_specs_are_one_line_errors_naming_the_field(tmp_path: Path, body: str, message: str):
    path = spec_file(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_task(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: {message}"), text


def state(name: str, xy, z: float | None = None) -> ObjectState:
    category = name.split()[-1]
    size = object_size(category)
    return ObjectState(
        name, category, name.split()[0], (xy[0], xy[1], size[2] / 2 if z is None else z), size=size
    )


def test_geometry_of_lines_sides_and_offsets():
    row = [(0.5, -0.1), (0.51, 0.0), (0.5, 0.1)]
    assert geometry.in_line(row, "horizontal", 0.03)
    assert not geometry.in_line(row, "vertical", 0.03)
    assert geometry.in_line([(0.4, 0.0), (0.5, 0.01), (0.6, 0.0)], "vertical", 0.03)
    corners = [LOCATIONS[n] for n in ("top left corner", "middle", "bottom right corner")]
    assert geometry.in_line(corners, "diagonal", 0.03)
    assert not geometry.in_line([(0.5, -0.1), (0.6, 0.0), (0.5, 0.1)], "horizontal", 0.03)  # a bend
    assert not geometry.in_line([(0.5, 0.0), (0.5, 0.0), (0.5, 0.1)], "horizontal", 0.03)  # a stack
    bowl, block = object_size("bowl")[0] / 2, object_size("block")[0] / 2
    left = geometry.side_point((0.5, 0.0), bowl, "left")
    assert geometry.is_beside(left, block, (0.5, 0.0), bowl, "left")
    assert not geometry.is_beside(left, block, (0.5, 0.0), bowl, "right")
    assert not geometry.is_beside((0.5, 0.3), block, (0.5, 0.0), bowl, "left")  # too far
    assert geometry.is_offset((0.5, -0.1), (0.5, 0.0), "right")
    assert not geometry.is_offset((0.5, -0.01), (0.5, 0.0), "right")  # not moved enough
    assert not geometry.is_offset((0.6, -0.1), (0.5, 0.0), "right")  # off to one side


def test_distinct_assignment_needs_one_member_each(tmp_path: Path):
    inst = Task(load_task(spec_file(tmp_path, GOOD["distinct"]))).sample(np.random.default_rng(0))
    blocks = [o.name for o in inst.objects if o.category == "block"]
    bowls = [o for o in inst.objects if o.category == "bowl"]
    initial = [state(o.name, o.xy) for o in inst.objects]
    bowl_states = [state(b.name, b.xy) for b in bowls]
    # three blocks, two bowls: two in one bowl can never be distinct
    shared = bowl_states + [
        state(n, bowls[i % 2].xy, 0.03 + 0.04 * (i // 2)) for i, n in enumerate(blocks)
    ]
    ok, unmet = inst.success(initial, shared)
    assert not ok and unmet == ["in(each, any) distinct"]
    inst2 = Task(
        load_task(
            spec_file(tmp_path, GOOD["distinct"].replace("distinct: true", "distinct: false"))
        )
    )
    assert inst2.sample(np.random.default_rng(0)).success(initial, shared)[0]  # some bowl each


def test_milestones_in_order_count_only_after_the_one_before(tmp_path: Path):
    inst = Task(load_task(spec_file(tmp_path, GOOD["milestones"]))).sample(np.random.default_rng(0))
    a, b = str(inst.bindings["A"]), str(inst.bindings["B"])
    others = [state(o.name, o.xy) for o in inst.objects if o.name != a]
    bowl_xy = next(o.xy for o in inst.objects if o.name == b)
    start = others + [state(a, LOCATIONS["top left corner"])]
    tracker = MilestoneTracker(inst, start)
    assert tracker.update(others + [state(a, bowl_xy, 0.03)]) == []  # in the bowl before the middle
    assert not inst.success(start, others + [state(a, bowl_xy, 0.03)], tracker)[0]
    assert tracker.update(others + [state(a, LOCATIONS["middle"])]) == [0]
    assert tracker.update(others + [state(a, bowl_xy, 0.03)]) == [1]
    assert tracker.to_dict() == {"reached": [0, 1], "total": 2}
    assert inst.success(start, others + [state(a, bowl_xy, 0.03)], tracker) == (True, [])


#: An observation with the hand away from the objects and nothing held.
OBS = Observation(None, None, None, np.zeros(7), 0.08, (0.3, 0.0, 0.4))


def test_sides_of_objects_are_places_the_planner_can_name():
    objects = [
        SceneObject("red block", "block", "red", (0.5, 0.0, 0.02)),
        SceneObject("blue block", "block", "blue", (0.5, 0.0, 0.06)),  # on the red one
        SceneObject("green bowl", "bowl", "green", (0.5, -0.18, 0.02), object_size("bowl")),
    ]
    scene = describe_scene(objects, OBS)
    assert scene.locations["left of the red block"][:2] == pytest.approx((0.5, 0.10))
    assert (
        "behind the red block" in scene.locations and "in front of the red block" in scene.locations
    )
    assert "right of the red block" not in scene.locations  # the bowl is there
    assert not any(
        "blue block" in n for n in scene.locations
    )  # stacked: its sides are the red one's
    assert "right of the green bowl" not in scene.locations  # beyond the workspace
    # A block moved to a side of itself ("a bit to the left") is judged where the place was.
    after = describe_scene(
        [SceneObject("red block", "block", "red", (0.5, 0.1, 0.02)), *objects[2:]],
        OBS,
    )
    call = SkillCall("pick_and_place", ("red block", "left of the red block"))
    assert SceneSuccessDetector().judge(call, scene, after, None) is True


def test_runner_tracks_milestones_every_step_and_records_them(tmp_path: Path):
    from hydra import compose, initialize_config_module

    from saycan.runtime.components import Components
    from saycan.runtime.episode import run_episode

    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("config", overrides=["planner=oracle", "executor=teleport"])
    components = Components(cfg)
    try:
        result = run_episode(
            components, "corners_clockwise", 3, tmp_path, video=False, frames=False
        )
    finally:
        components.close()
    assert result.success and result.extras["milestones"] == {"reached": [0, 1, 2, 3], "total": 4}
    lines = [json.loads(line) for line in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert [len(line["milestones"]["reached"]) for line in lines] == [1, 2, 3, 4, 4]

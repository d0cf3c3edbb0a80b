"""A skill is one unit: nothing outside a skill's own module or package looks at its name, every
skill answers the whole `Skill` protocol, and a parameter such as the push distance is stated
once (in the skill) and read from there by every part that needs it."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import numpy as np
import pytest

from saycan.errors import ConfigError
from saycan.perception.relations import relations_of
from saycan.perception.scene import SceneDescription, SceneObject
from saycan.planner.success import SceneSuccessDetector
from saycan.skills.affordances.analytic import AnalyticAffordance
from saycan.skills.base import LearnedFeatures, Skill, SkillLibrary, Trainable, default_library
from saycan.skills.done import Done
from saycan.skills.pick_and_place import PickAndPlace
from saycan.skills.push import Push
from saycan.skills.types import SkillCall
from saycan.world import LOCATIONS

SRC = Path(importlib.import_module("saycan").__file__).parent


def unit_of(skill: object) -> Path:
    """The file or folder that is a skill's own unit: its package below `saycan.skills`, or its
    module when it is a single file there."""
    module = type(skill).__module__
    parts = module.split(".")
    if parts[:2] != ["saycan", "skills"] or len(parts) < 3:
        raise AssertionError(f"{module} is not a skill unit under saycan.skills")
    path = SRC.joinpath(*parts[1:3])
    return path if path.is_dir() else path.with_suffix(".py")


def _literals(node: ast.AST) -> list[str]:
    """String constants in a node, looking into tuple / list / set displays."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [v for e in node.elts for v in _literals(e)]
    return []


def name_branches(source: str, names: set[str]) -> list[tuple[int, str, set[str]]]:
    """Lines that look at a skill's name (with the names they look at): a comparison of
    something skill-ish with the name, a call built or looked up by the literal name, a dict
    keyed by it, a `case "name":`."""
    found: list[tuple[int, str, set[str]]] = []
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        hit: set[str] = set()
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            named = [op for op in operands if set(_literals(op)) & names]
            if named:
                others = " ".join(ast.unparse(op) for op in operands if op not in named).lower()
                if "skill" in others or "call" in others or "family" in others:
                    hit = {v for op in named for v in _literals(op)} & names
        elif isinstance(node, ast.Call) and node.args:
            first = set(_literals(node.args[0])) & names
            if first:
                func = ast.unparse(node.func)
                if func.endswith("SkillCall") or func.endswith(".get") or "skill" in func.lower():
                    hit = first
        elif isinstance(node, ast.Dict):
            hit = {v for k in node.keys if k is not None for v in _literals(k)} & names
        elif isinstance(node, ast.MatchValue):
            hit = set(_literals(node.value)) & names
        if hit:
            found.append((node.lineno, lines[node.lineno - 1].strip(), hit))
    return found


def test_no_code_outside_a_skills_unit_branches_on_its_name():
    library = default_library()
    units = {s.name: unit_of(s) for s in library}
    assert set(units) == {"pick_and_place", "push", "done"}
    offending = []
    for path in sorted(SRC.rglob("*.py")):
        for lineno, line, hit in name_branches(path.read_text(), set(units)):
            if any(path != units[n] and units[n] not in path.parents for n in hit):
                offending.append(f"{path.relative_to(SRC.parent)}:{lineno}: {line}")
    assert not offending, "code outside a skill's unit looks at its name:\n" + "\n".join(offending)


@pytest.mark.parametrize(
    "snippet",
    [
        'if call.skill == "push":\n    pass',
        'ok = skill != "pick_and_place"',
        'x = call.skill in ("push", "done")',
        'c = SkillCall("push", ("a", "left"))',
        'p = skills.get("push")',
        'F = {"push": 1}',
        'match call.skill:\n    case "push":\n        pass',
    ],
)
def test_the_name_check_catches_each_form_of_branching(snippet):
    assert name_branches(snippet, {"push", "pick_and_place", "done"})


def test_the_name_check_leaves_other_uses_of_the_same_word_alone():
    # "done" is also a loop's stop reason: not a skill name there.
    assert not name_branches('if outcome.stopped_by == "done":\n    pass', {"done"})


def test_every_packaged_skill_answers_the_whole_protocol():
    for skill in default_library():
        assert isinstance(skill, Skill)
    assert isinstance(PickAndPlace(), Trainable) and isinstance(Push(), Trainable)
    assert not isinstance(Done(), LearnedFeatures)


def test_a_library_refuses_what_is_not_a_skill():
    class HalfSkill:
        name = "wave"

        def candidates(self, scene):
            return []

        def execute(self, call, motion, scene):
            return None

    with pytest.raises(ConfigError, match="Skill protocol"):
        SkillLibrary([HalfSkill()])


def _scene(red_xy=(0.5, 0.0)) -> SceneDescription:
    objects = (
        SceneObject("red block", "block", "red", (red_xy[0], red_xy[1], 0.02), (0.04, 0.04, 0.04)),
        SceneObject("blue block", "block", "blue", (0.4, -0.15, 0.02), (0.04, 0.04, 0.04)),
    )
    return SceneDescription(objects, relations_of(objects), None, locations=dict(LOCATIONS))


def test_the_push_distance_is_stated_once_in_the_skill_and_read_everywhere():
    """Affordance, teleport effect, success check and learned features all follow the skill's
    configured distance (there is no second copy to keep in step)."""
    call = SkillCall("push", ("red block", "left"))
    near_edge = _scene((0.5, 0.18))  # 0.07 m from the workspace's left edge (+ 0.05 margin)
    short, long = (
        SkillLibrary([Push(distance=0.05), Done()]),
        SkillLibrary([Push(distance=0.20), Done()]),
    )
    assert AnalyticAffordance(skills=short).value(call, near_edge) == 1.0
    assert "outside the workspace" in AnalyticAffordance(skills=long).why_not(call, near_edge)
    [placed] = short.effect(call, _scene())
    assert placed.object == "red block" and np.allclose(placed.position, (0.5, 0.05, 0.022))
    moved = _scene((0.5, 0.06))
    assert SceneSuccessDetector(short).judge(call, _scene(), moved, None) is True
    assert SceneSuccessDetector(long).judge(call, _scene(), moved, None) is False
    end_y = Push.feature_names.index("end_y")
    assert np.isclose(short.skill_of(call).features(call, _scene())[end_y], 0.05)
    assert np.isclose(long.skill_of(call).features(call, _scene())[end_y], 0.20)


def test_the_disturbance_hook_is_what_the_skill_carried():
    assert (
        PickAndPlace().carried(SkillCall("pick_and_place", ("red block", "middle"))) == "red block"
    )
    assert Push().carried(SkillCall("push", ("red block", "left"))) is None
    assert default_library().carried(SkillCall("wave", ("red block",))) is None

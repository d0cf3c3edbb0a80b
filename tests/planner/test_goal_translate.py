"""planner=goal_translate: constrained goal decoding always yields a goal the scene's grammar
parses (property test over random scenes and random scores), the expert turns it into
admissible calls over the perceived scene, a failed step makes the planner translate again,
and the planner solves tasks end to end (scripted scorer; the packaged model in the slow test).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from saycan.errors import ConfigError
from saycan.eval.viewer import write_episode_html
from saycan.perception.scene import Relation, SceneDescription, SceneObject
from saycan.planner.goal_grammar import END, Atom, GoalParseError, parse_goal, render_goal
from saycan.planner.goal_translate import GoalTranslatePlanner, decode_goal, scene_objects
from saycan.planner.prompts import HistoryStep, PromptBuilder
from saycan.planner.scorers.base import ScorerStats
from saycan.runtime.components import Components
from saycan.runtime.episode import run_episode
from saycan.sim.scene_spec import LOCATIONS
from saycan.sim.tasks.instance import plan_for_goal
from saycan.skills.affordances import AnalyticAffordance, ConstantAffordance
from saycan.skills.base import SkillLibrary
from saycan.skills.done import DONE, Done
from saycan.skills.pick_and_place import PickAndPlace
from saycan.skills.types import SkillCall

COLOURS = ["red", "blue", "green", "yellow", "purple", "orange", "pink", "cyan"]
ZONES = ("left side", "right side", "top side", "bottom side")


class RandomScorer:
    """Scores from a seeded generator, with some -inf and nan: any ranking a model could give."""

    name = "random"

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.stats = ScorerStats()

    def score(self, prompt, options):
        self.stats = ScorerStats(calls=1, options=len(options), tokens_computed=len(options))
        scores = self.rng.normal(0, 3, len(options))
        scores[self.rng.random(len(options)) < 0.1] = -np.inf
        scores[self.rng.random(len(options)) < 0.05] = np.nan
        return scores


class ScriptedScorer:
    """Log-prob 0 for the next scripted line (a substring match), -10 for the rest: a stand-in
    for a model that knows the goal. Records every prompt."""

    name = "scripted"

    def __init__(self, *lines: str):
        self.lines = list(lines)
        self.prompts: list[str] = []
        self.stats = ScorerStats()

    def score(self, prompt, options):
        self.prompts.append(prompt)
        self.stats = ScorerStats(calls=1, options=len(options), tokens_computed=10 * len(options))
        want = self.lines.pop(0) if self.lines else END
        return np.array([0.0 if want in o else -10.0 for o in options])


@st.composite
def scenes(draw) -> SceneDescription:
    n_blocks = draw(st.integers(0, 4))
    n_bowls = draw(st.integers(0, 3))
    colours = draw(st.permutations(COLOURS))
    blocks = [f"{c} block" for c in colours[:n_blocks]]
    bowls = [f"{c} bowl" for c in colours[n_blocks : n_blocks + n_bowls]]
    xy = st.tuples(st.floats(0.3, 0.7), st.floats(-0.25, 0.25))
    objects = [SceneObject(n, "block", n.split()[0], (*draw(xy), 0.02)) for n in blocks]
    objects += [
        SceneObject(n, "bowl", n.split()[0], (*draw(xy), 0.02), (0.15, 0.15, 0.04)) for n in bowls
    ]
    names = blocks + bowls
    relations = []
    for b in blocks:  # random (even cyclic, as noisy perception could report) supports
        if names and draw(st.booleans()):
            other = draw(st.sampled_from(names))
            if other != b:
                relations.append(Relation(b, "in" if other in bowls else "on", other))
    holding = draw(st.sampled_from([None, *blocks]))
    return SceneDescription(tuple(objects), tuple(relations), holding, locations=dict(LOCATIONS))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scene=scenes(), seed=st.integers(0, 2**32 - 1), max_atoms=st.integers(1, 8))
def test_decoded_goals_always_parse_and_plan_to_admissible_calls(scene, seed, max_atoms):
    atoms, logps, _ = decode_goal(RandomScorer(seed), "prompt\n", scene, ZONES, max_atoms)
    assert len(atoms) <= max_atoms and len(logps) == len(atoms) + 1
    text = render_goal(atoms)
    assert parse_goal(text, scene, ZONES) == atoms  # the text reads back as the same goal
    plan = plan_for_goal(scene_objects(scene), [_spec(a) for a in atoms], scene.holding)
    admissible = set(SkillLibrary([PickAndPlace(), Done()]).candidates(scene))
    assert plan[-1] == DONE and all(c in admissible for c in plan)


def _spec(atom: Atom):
    from saycan.sim.tasks.spec import PredicateSpec

    return PredicateSpec(pred=atom.pred, args=atom.args)


def _scene() -> SceneDescription:
    objs = (
        SceneObject("red block", "block", "red", (0.45, 0.05, 0.02)),
        SceneObject("blue block", "block", "blue", (0.55, -0.1, 0.02)),
        SceneObject("green bowl", "bowl", "green", (0.5, 0.15, 0.02), size=(0.15, 0.15, 0.04)),
    )
    return SceneDescription(objs, (), None, locations=dict(LOCATIONS))


def test_parse_goal_refuses_what_the_grammar_does_not_allow():
    scene = _scene()
    assert parse_goal("goal.in(red block, green bowl)\ngoal.end()", scene) == (
        Atom("in", ("red block", "green bowl")),
    )
    for bad in (
        "goal.in(red block, green bowl)",
        "goal.in(red block, purple bowl)\ngoal.end()",
        "goal.in(red block, green bowl)\ngoal.on(red block, blue block)\ngoal.end()",
        "import os\ngoal.end()",
        "goal.on(red block, red block)\ngoal.end()",
    ):
        with pytest.raises(GoalParseError):
            parse_goal(bad, scene)


@pytest.mark.parametrize(
    "block,bowl",
    [("a, b", "c"), ("x)", "goal.end()"), ("red\nblock", "bowl"), ("goal.in(x, y)", "in(")],
)
def test_goals_over_names_with_brackets_commas_or_line_breaks_read_back(block, bowl):
    objs = (
        SceneObject(block, "block", "red", (0.45, 0.05, 0.02)),
        SceneObject("b", "block", "blue", (0.55, -0.1, 0.02)),
        SceneObject(bowl, "bowl", "green", (0.5, 0.15, 0.02), size=(0.15, 0.15, 0.04)),
    )
    scene = SceneDescription(objs, (), None, locations=dict(LOCATIONS))
    for seed in range(8):
        atoms, _, _ = decode_goal(RandomScorer(seed), "prompt\n", scene, ZONES, 3)
        assert parse_goal(render_goal(atoms), scene, ZONES) == atoms
    wanted = (Atom("in", (block, bowl)), Atom("on", ("b", block)))
    assert parse_goal(render_goal(wanted), scene) == wanted
    with pytest.raises(GoalParseError, match="nothing may follow"):
        parse_goal(render_goal(wanted) + "\ngoal.in(b, " + bowl + ")", scene)


@pytest.mark.parametrize(
    "contradiction",
    [
        "goal.on(green block, red block)",  # a on b on c on a
        "goal.left_of(red block, green block)",  # beside its own stack
        "goal.left_of(green block, blue block)",
    ],
)
def test_a_goal_the_expert_could_never_reach_is_not_in_the_grammar(contradiction: str):
    objs = tuple(
        SceneObject(f"{c} block", "block", c, (0.4 + 0.05 * i, 0.0, 0.02))
        for i, c in enumerate(["red", "blue", "green", "pink"])
    ) + (SceneObject("green bowl", "bowl", "green", (0.6, 0.1, 0.02), (0.15, 0.15, 0.04)),)
    scene = SceneDescription(objs, (), None, locations=dict(LOCATIONS))
    stack = "goal.on(red block, blue block)\ngoal.on(blue block, green block)\n"
    sides = "goal.left_of(pink block, red block)\ngoal.right_of(blue block, pink block)\n"
    assert len(parse_goal(stack + sides + "goal.end()", scene)) == 4  # all reachable
    with pytest.raises(GoalParseError, match="line 3"):
        parse_goal(stack + contradiction + "\ngoal.end()", scene)
    with pytest.raises(GoalParseError, match="line 2"):  # sides in a cycle
        parse_goal(
            "goal.left_of(pink block, red block)\ngoal.left_of(red block, pink block)\ngoal.end()",
            scene,
        )


def planner(scorer, affordance=None, **kw) -> GoalTranslatePlanner:
    p = GoalTranslatePlanner(
        scorer,
        affordance or ConstantAffordance(),
        SkillLibrary([PickAndPlace(), Done()]),
        PromptBuilder(),
        **kw,
    )
    p.reset(np.random.default_rng(0))
    return p


def test_the_goal_is_written_once_and_re_translated_after_a_failed_step():
    scorer = ScriptedScorer("in(red block, green bowl)", END, "in(red block, green bowl)", END)
    p = planner(scorer)
    scene = _scene()
    first = p.decide("put the red block in the green bowl", scene, [])
    assert first.chosen == SkillCall("pick_and_place", ("red block", "green bowl"))
    assert first.generation["goal"] == "goal.in(red block, green bowl)\ngoal.end()"
    assert first.llm_stats["calls"] == 2 and len(scorer.prompts) == 2
    ok = p.decide("put the red block in the green bowl", scene, [HistoryStep(first.chosen, True)])
    assert ok.chosen == DONE and ok.llm_stats == {} and len(scorer.prompts) == 2  # no model call
    p = planner(ScriptedScorer("in(red block, green bowl)", END, "in(red block, green bowl)", END))
    first = p.decide("put the red block in the green bowl", scene, [])
    retry = p.decide(
        "put the red block in the green bowl", scene, [HistoryStep(first.chosen, False)]
    )
    assert retry.generation["translation"] == 2 and retry.generation["reason"] == "a step failed"
    assert retry.chosen == first.chosen  # the world did not change: the same call again


def test_an_unaffordable_planned_call_is_vetoed():
    far = SceneObject("far block", "block", "red", (0.95, 0.0, 0.02))
    scene = SceneDescription((far, *_scene().objects[1:]), (), None, locations=dict(LOCATIONS))
    d = planner(ScriptedScorer("in(far block, green bowl)", END), AnalyticAffordance()).decide(
        "put the red block in the bowl", scene, []
    )
    assert d.chosen == DONE and d.generation["vetoed"] == [
        "robot.pick_and_place(far block, green bowl)"
    ]


def test_the_planner_refuses_bad_config():
    with pytest.raises(ConfigError, match="language scorer"):
        planner(object())
    with pytest.raises(ConfigError, match="unknown zone"):
        planner(ScriptedScorer(), zones=["the moon"])
    with pytest.raises(ConfigError, match="min_affordance must be finite"):
        planner(ScriptedScorer(), min_affordance=float("nan"))


@pytest.mark.parametrize(
    "task,lines",
    [
        ("put_block_in_bowl", ["in({A}, {B})"]),
        ("stack_blocks", []),  # filled below from the instance's blocks
    ],
)
def test_goal_translate_solves_a_task_end_to_end(tmp_path: Path, task: str, lines: list[str]):
    """The packaged config (prompt, zones) with a scripted scorer, on the mock robot."""
    from saycan.sim.tasks import Task

    seed = 100000
    instance = Task(task).sample(np.random.default_rng(seed))
    if task == "stack_blocks":
        blocks = [o.name for o in instance.objects if o.category == "block"]
        lines = [f"on({top}, {bottom})" for bottom, top in zip(blocks, blocks[1:])]
    scorer = ScriptedScorer(*(line.format(**instance.bindings) for line in lines), END)
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(
            "eval",
            overrides=[
                "robot=mock",
                "planner=goal_translate",
                "executor=teleport",
                f"task={task}",
                "llm=smollm2",
            ],
        )
    from hydra.utils import instantiate

    cfg.planner.scorer = None  # built below: the scripted scorer stands in for the model
    components = Components(_with_planner(cfg, "oracle"))
    try:
        components.planner = instantiate(
            cfg.planner, scorer=scorer, affordance=components.affordance, skills=components.skills
        )
        result = run_episode(components, task, seed, tmp_path, video=False, frames=False)
    finally:
        components.close()
    assert result.success, (result.plan, result.unmet)
    trace = [json.loads(line) for line in Path(result.trace).read_text().splitlines()]
    assert trace[0]["generation"]["goal"].endswith(END)
    assert "goal.in(yellow block, red bowl)" in scorer.prompts[0]  # the few-shot examples
    assert result.extras["llm_tokens"] > 0 and all(t.get("llm_stats") == {} for t in trace[1:])
    assert result.extras["llm_calls"] == len(lines) + 1  # one scoring call per goal line
    page = write_episode_html(tmp_path).read_text()
    assert "goal in the task language" in page and "goal.end()" in page


def _with_planner(cfg, name: str):
    from omegaconf import OmegaConf

    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    out.planner = {"_target_": "saycan.planner.baselines.OraclePlanner"}
    return out


@pytest.mark.slow
def test_goal_translate_with_the_packaged_model(tmp_path: Path):
    """The bare packaged SmolLM2-135M with the few-shot goal prompt, on the simplest task."""
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(
            "eval",
            overrides=[
                "robot=mock",
                "planner=goal_translate",
                "executor=teleport",
                "task=put_block_in_bowl",
                "llm=smollm2",
            ],
        )
    components = Components(cfg)
    try:
        result = run_episode(
            components, "put_block_in_bowl", 100000, tmp_path, video=False, frames=False
        )
    finally:
        components.close()
    assert result.success, result.plan
    assert result.extras["llm_tokens"] > 0

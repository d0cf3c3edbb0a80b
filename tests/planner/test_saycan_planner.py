"""SayCan's decision rule with a deterministic scorer (no model): the affordance gates calls,
the LLM ranks them, `done` ends the loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from saycan.perception.scene import Relation, SceneDescription, SceneObject
from saycan.planner.prompts import PromptBuilder
from saycan.planner.saycan import SayCanPlanner
from saycan.sim.scene_spec import LOCATIONS
from saycan.skills.affordances import AnalyticAffordance, ConstantAffordance
from saycan.skills.base import SkillLibrary
from saycan.skills.done import DONE, Done
from saycan.skills.pick_and_place import PickAndPlace
from saycan.skills.types import SkillCall


class KeywordScorer:
    """Deterministic stand-in for an LLM: log-prob 0 for options containing `favourite`,
    -5 for `done`, -10 otherwise. Records what it was asked."""

    name = "keyword"

    def __init__(self, favourite: str):
        self.favourite = favourite
        self.calls: list[tuple[str, list[str]]] = []

    def score(self, prompt, options):
        self.calls.append((prompt, list(options)))
        return np.array(
            [0.0 if self.favourite in o else -5.0 if "done" in o else -10.0 for o in options]
        )


def scene(relations=(), holding=None) -> SceneDescription:
    objs = (
        SceneObject("red block", "block", "red", (0.45, 0.05, 0.02)),
        SceneObject("blue block", "block", "blue", (0.55, -0.1, 0.02)),
        SceneObject("green bowl", "bowl", "green", (0.5, 0.15, 0.02), size=(0.15, 0.15, 0.04)),
    )
    return SceneDescription(objs, tuple(relations), holding, locations=dict(LOCATIONS))


def make_planner(scorer, affordance=None, **kw) -> SayCanPlanner:
    return SayCanPlanner(
        scorer=scorer,
        affordance=affordance or AnalyticAffordance(),
        skills=SkillLibrary([PickAndPlace(), Done()]),
        prompt=PromptBuilder(),
        **kw,
    )


def test_llm_favourite_is_chosen_when_affordable():
    planner = make_planner(KeywordScorer("(red block, green bowl)"))
    d = planner.decide("put the red block in the green bowl", scene(), [])
    assert d.chosen == SkillCall("pick_and_place", ("red block", "green bowl"))
    best = d.ranked()[0]
    assert best.llm_logprob == 0.0 and best.affordance == 1.0 and best.combined == 0.0


def test_zero_affordance_forbids_the_llm_favourite():
    # Blue block sits on the red block: the red block cannot be picked.
    covered = scene([Relation("blue block", "on", "red block")])
    scorer = KeywordScorer("(red block, green bowl)")
    d = make_planner(scorer).decide("put the red block in the green bowl", covered, [])
    assert d.chosen != SkillCall("pick_and_place", ("red block", "green bowl"))
    forbidden = [c for c in d.candidates if c.call.args and c.call.args[0] == "red block"]
    assert forbidden and all(c.affordance == 0.0 and c.combined == -math.inf for c in forbidden)
    # Forbidden calls are not even sent to the language model (pruned).
    assert not any("robot.pick_and_place(red block" in o for o in scorer.calls[0][1])


def test_llm_only_ignores_affordance():
    covered = scene([Relation("blue block", "on", "red block")])
    d = make_planner(KeywordScorer("(red block, green bowl)"), use_affordance=False).decide(
        "put the red block in the green bowl", covered, []
    )
    assert d.chosen == SkillCall("pick_and_place", ("red block", "green bowl"))


def test_done_is_never_pruned_and_wins_when_nothing_else_is_affordable():
    planner = make_planner(KeywordScorer("nothing matches"), affordance=ConstantAffordance(0.0))
    d = planner.decide("do something", scene(), [])
    assert d.chosen == DONE


def test_prune_threshold_limits_llm_work():
    scorer = KeywordScorer("(red block, green bowl)")
    planner = make_planner(scorer, affordance=ConstantAffordance(0.5), prune_below=0.6)
    d = planner.decide("put the red block in the green bowl", scene(), [])
    assert scorer.calls[0][1] == ["robot.done()"]
    assert d.chosen == DONE
    # The trace says which candidates were pruned; done never is.
    records = {r["call"]: r for r in d.to_dict()["candidates"]}
    assert records["robot.done()"]["pruned"] is False
    others = [r for call, r in records.items() if call != "robot.done()"]
    assert others and all(r["pruned"] and r["llm_logprob"] is None for r in others)


def test_history_is_rendered_in_the_prompt():
    scorer = KeywordScorer("done")
    step = SkillCall("pick_and_place", ("red block", "green bowl"))
    d = make_planner(scorer).decide("put the red block in the green bowl", scene(), [step])
    assert d.prompt.endswith(
        "# put the red block in the green bowl\nrobot.pick_and_place(red block, green bowl)\n"
    )


def test_ties_are_broken_by_the_episode_rng_reproducibly():
    choices = []
    for _ in range(2):
        planner = make_planner(KeywordScorer("block"))  # every pick_and_place ties at 0
        planner.reset(np.random.default_rng(7))
        choices.append(planner.decide("x", scene(), []).chosen)
    assert choices[0] == choices[1]


def test_scorer_required_when_llm_used():
    with pytest.raises(ValueError):
        make_planner(None)


class FirstObjectBiasedScorer:
    """A stand-in with a tiny model's failure: +3 nats for calls on the first block listed,
    whatever the instruction, and +2 for calls whose object the instruction names."""

    name = "biased"

    def score(self, prompt, options):
        instruction = prompt.rstrip("\n").splitlines()[-1]
        return np.array(
            [
                (3.0 if "(red block" in o else 0.0)
                + (2.0 if "(" in o and o.split("(")[1].split(",")[0] in instruction else 0.0)
                - (1.0 if "done" in o else 0.0)
                for o in options
            ]
        )


def test_contextual_calibration_removes_the_first_object_bias():
    instruction = "put the blue block in the green bowl"
    plain = make_planner(FirstObjectBiasedScorer()).decide(instruction, scene(), [])
    assert plain.chosen.args[0] == "red block"  # the bias wins without calibration
    calibrated = make_planner(FirstObjectBiasedScorer(), calibration="contextual")
    d = calibrated.decide(instruction, scene(), [])
    assert d.chosen.args[0] == "blue block"
    done = next(c for c in d.candidates if c.call == DONE)
    assert done.llm_logprob == -1.0  # `done` is left uncorrected


def test_unknown_calibration_is_refused():
    with pytest.raises(ValueError, match="calibration"):
        make_planner(KeywordScorer("x"), calibration="magic")

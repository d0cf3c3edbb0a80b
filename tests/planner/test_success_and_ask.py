"""Success detection from the perceived scene, expert progress through retries, conformal
prediction sets, and the humans who answer the robot's questions."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from saycan.errors import ConfigError
from saycan.perception.relations import relations_of
from saycan.perception.scene import SceneDescription, SceneObject
from saycan.planner.ask import (
    AskForHelpPlanner,
    NoAnswerError,
    conformal_quantile,
    prediction_set,
    right_call,
)
from saycan.planner.decision import CandidateScore, Decision
from saycan.planner.humans import SimulatedHuman, TerminalHuman
from saycan.planner.prompts import HistoryStep
from saycan.planner.success import SceneSuccessDetector, expert_progress
from saycan.sim.scene_spec import LOCATIONS
from saycan.skills.done import DONE
from saycan.skills.types import SkillCall

PUT = SkillCall("pick_and_place", ("red block", "blue bowl"))
STACK = SkillCall("pick_and_place", ("green block", "red block"))
CORNER = SkillCall("pick_and_place", ("red block", "top left corner"))


def _scene(red=(0.45, -0.1, 0.02), green=(0.55, 0.1, 0.02)) -> SceneDescription:
    objects = (
        SceneObject("red block", "block", "red", red),
        SceneObject("green block", "block", "green", green),
        SceneObject("blue bowl", "bowl", "blue", (0.6, -0.1, 0.02)),
    )
    return SceneDescription(objects, relations_of(objects), locations=dict(LOCATIONS))


def test_detector_reads_the_perceived_scene():
    detector, before = SceneSuccessDetector(), _scene()
    assert detector.judge(PUT, before, _scene(red=(0.6, -0.1, 0.03)), None) is True
    assert detector.judge(PUT, before, before, None) is False
    # A block on a block that sits in the bowl is in the bowl too.
    pile = _scene(red=(0.6, -0.1, 0.03), green=(0.6, -0.1, 0.07))
    assert (
        detector.judge(
            SkillCall("pick_and_place", ("green block", "blue bowl")), before, pile, None
        )
        is True
    )
    assert detector.judge(STACK, before, _scene(green=(0.45, -0.1, 0.06)), None) is True
    corner = LOCATIONS["top left corner"]
    assert (
        detector.judge(CORNER, before, _scene(red=(corner[0] + 0.02, corner[1], 0.02)), None)
        is True
    )
    assert detector.judge(DONE, before, before, None) is None


def test_expert_progress_retries_failed_steps():
    plan = [PUT, STACK, DONE]
    assert expert_progress(plan, []) == 0
    assert expert_progress(plan, [HistoryStep(PUT, False)]) == 0
    assert right_call(plan, [HistoryStep(PUT, False)]) == PUT
    assert expert_progress(plan, [HistoryStep(PUT, False), HistoryStep(PUT, True)]) == 1
    assert expert_progress(plan, [PUT, STACK]) == 2  # no verdict: counted as done
    assert right_call(plan, [PUT, STACK]) == DONE


def test_conformal_quantile_is_the_finite_sample_corrected_quantile():
    scores = np.arange(1, 20) / 20  # 19 scores 0.05 .. 0.95
    # ceil(20 * 0.9) / 19 = 18/19: the 18th smallest score.
    assert conformal_quantile(scores, 0.1) == pytest.approx(0.90)
    assert conformal_quantile([0.3, 0.4], 0.1) == 1.0  # too few points: every option
    with pytest.raises(ConfigError):
        conformal_quantile([], 0.1)
    with pytest.raises(ConfigError):
        conformal_quantile([0.1], 1.5)


def _decision(combined: list[float]) -> Decision:
    calls = [PUT, STACK, CORNER, DONE]
    cands = tuple(CandidateScore(c, math.nan, 1.0, s) for c, s in zip(calls, combined))
    return Decision("", cands, calls[int(np.argmax(combined))], "fixed")


class FixedPlanner:
    """A planner whose scores are given: the ask-for-help logic is what is under test."""

    name = "fixed"

    def __init__(self, combined: list[float]):
        self.combined = combined

    def reset(self, rng, task=None) -> None:
        pass

    def decide(self, instruction, scene, history) -> Decision:
        return _decision(self.combined)


class Task:
    def expert_plan(self, skills=None) -> list[SkillCall]:
        return [STACK, DONE]


def test_prediction_set_and_asking():
    unsure = [math.log(0.45), math.log(0.45), math.log(0.1), -math.inf]
    assert prediction_set(_decision(unsure), q_hat=0.6) == [0, 1]
    assert prediction_set(_decision(unsure), q_hat=0.3) == []
    human = SimulatedHuman()
    planner = AskForHelpPlanner(FixedPlanner(unsure), human, q_hat=0.6)
    planner.reset(np.random.default_rng(0), Task())
    d = planner.decide("put it there", _scene(), [])
    assert d.chosen == STACK and d.help["asked"] and d.help["answer"] == STACK.to_text()
    # Sure: one option in the set, no question.
    sure = [math.log(0.9), math.log(0.05), math.log(0.05), -math.inf]
    d = AskForHelpPlanner(FixedPlanner(sure), human, q_hat=0.6).decide("x", _scene(), [])
    assert d.chosen == PUT and not d.help["asked"]


def test_none_of_these_picks_the_best_option_outside_the_set():
    human = SimulatedHuman()
    planner = AskForHelpPlanner(
        FixedPlanner([math.log(0.45), math.log(0.1), math.log(0.45), -math.inf]), human, q_hat=0.6
    )
    planner.reset(np.random.default_rng(0), Task())  # the right call (STACK) is not in the set
    d = planner.decide("x", _scene(), [])
    assert d.help["answer"] == "none of these" and d.chosen == STACK


def test_terminal_human_reads_numbered_answers_and_reports_eof():
    out = io.StringIO()
    human = TerminalHuman(stdin=io.StringIO("7\n2\n"), stdout=out)
    assert human.ask("which?", [PUT, STACK], []) == 1
    assert (
        "1. robot.pick_and_place(red block, blue bowl)" in out.getvalue()
        and "0. none of these" in out.getvalue()
    )
    assert (
        TerminalHuman(stdin=io.StringIO("0\n"), stdout=out).ask("which?", [PUT, STACK], []) is None
    )
    with pytest.raises(NoAnswerError, match="stdin is closed"):
        TerminalHuman(stdin=io.StringIO(""), stdout=out).ask("which?", [PUT, STACK], [])
    unsure = [math.log(0.45), math.log(0.45), math.log(0.1), -math.inf]
    guessing = AskForHelpPlanner(
        FixedPlanner(unsure),
        TerminalHuman(stdin=io.StringIO(""), stdout=out),
        q_hat=0.6,
        on_no_answer="guess",
    )
    assert guessing.decide("x", _scene(), []).chosen == PUT


def test_ask_for_help_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="exactly one"):
        AskForHelpPlanner(FixedPlanner([0.0]), SimulatedHuman())
    with pytest.raises(ConfigError, match="saycan calibrate"):
        AskForHelpPlanner(
            FixedPlanner([0.0]), SimulatedHuman(), quantile_file=str(tmp_path / "none.json")
        )
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a calibration file"):
        AskForHelpPlanner(
            FixedPlanner([0.0]), SimulatedHuman(), quantile_file=str(tmp_path / "bad.json")
        )

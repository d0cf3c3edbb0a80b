"""Asking for help when unsure (KnowNo, Ren et al. 2023): conformal prediction sets over the
planner's options.

Calibration (`saycan calibrate`) collects the nonconformity score 1 - p(right call) on
calibration episodes, p being the planner's softmax over its combined scores; `q_hat` is the
ceil((n+1)(1-epsilon))/n quantile. At run time the prediction set is every option with
p >= 1 - q_hat: it holds the right call with probability >= 1 - epsilon. When the set has more
than one option the robot asks a human (`human` config group) to pick one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from saycan.errors import ConfigError, SayCanError
from saycan.perception.scene import SceneDescription
from saycan.planner.decision import Decision, option_probabilities
from saycan.planner.prompts import HistoryStep
from saycan.planner.stepping import Steps, decision_steps, drive
from saycan.planner.success import expert_progress
from saycan.skills.done import DONE
from saycan.skills.types import SkillCall


class NoAnswerError(SayCanError):
    """The robot asked for help and nobody answered (no terminal, end of input)."""


class Human(Protocol):
    name: str

    def reset(self, task: object | None) -> None: ...

    def ask(
        self,
        question: str,
        options: Sequence[SkillCall],
        history: Sequence[SkillCall | HistoryStep],
    ) -> int | None:
        """The index of the chosen option, or None for "none of these"."""
        ...


def conformal_quantile(scores: Sequence[float], epsilon: float) -> float:
    """Split-conformal q_hat: the ceil((n+1)(1-epsilon))-th smallest of the n scores."""
    if not 0.0 < float(epsilon) < 1.0:
        raise ConfigError(f"epsilon must be in (0, 1), got {epsilon!r}")
    scores = np.asarray(list(scores), dtype=float)
    n = len(scores)
    if n == 0:
        raise ConfigError("no calibration decisions: check the calibration tasks and seeds")
    k = math.ceil((n + 1) * (1.0 - float(epsilon)))  # the k-th smallest score
    if k > n:  # too few points for this epsilon: the set must take every option
        return 1.0
    return float(np.sort(scores)[k - 1])


def prediction_set(decision: Decision, q_hat: float) -> list[int]:
    """Indices of the candidates with p >= 1 - q_hat, most probable first."""
    probs = option_probabilities(decision.candidates)
    keep = [i for i, p in enumerate(probs) if p > 0 and p >= 1.0 - q_hat - 1e-12]
    return sorted(keep, key=lambda i: -probs[i])


def right_call(plan: Sequence[SkillCall], history: Sequence[SkillCall | HistoryStep]) -> SkillCall:
    """The expert's next call given what has been done (failed steps are retried)."""
    k = expert_progress(plan, history)
    return plan[k] if k < len(plan) else DONE


def load_q_hat(path: str | Path) -> float:
    """Read `q_hat` from the JSON `saycan calibrate` wrote."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        q_hat = float(data["q_hat"])
    except FileNotFoundError:
        raise ConfigError(
            f"ask_for_help.quantile_file {path} does not exist: run `saycan calibrate` first"
        ) from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(
            f"ask_for_help.quantile_file {path}: not a calibration file (no numeric q_hat)"
        ) from None
    return q_hat


class AskForHelpPlanner:
    """Wraps any planner: acts on its choice when the prediction set has one option (or none),
    asks the human otherwise. "None of these" picks the best option outside the set."""

    def __init__(
        self,
        planner: Any,
        human: Human,
        q_hat: float | None = None,
        quantile_file: str | None = None,
        on_no_answer: str = "error",
        name: str | None = None,
    ):
        if (q_hat is None) == (quantile_file is None):
            raise ConfigError("ask_for_help needs exactly one of q_hat or quantile_file")
        q = float(q_hat) if q_hat is not None else load_q_hat(quantile_file)
        if not 0.0 <= q <= 1.0:
            raise ConfigError(f"ask_for_help.q_hat must be in [0, 1], got {q!r}")
        if on_no_answer not in ("error", "guess"):
            raise ConfigError(
                f"ask_for_help.on_no_answer must be 'error' or 'guess', got {on_no_answer!r}"
            )
        self.inner = planner
        self.human = human
        self.q_hat = q
        self.on_no_answer = on_no_answer
        self.name = name or f"{planner.name}+ask"

    @property
    def scorer(self) -> Any:  # the episode runner loads and names the inner planner's model
        return getattr(self.inner, "scorer", None)

    @property
    def prompt(self) -> Any:
        return getattr(self.inner, "prompt", None)

    def reset(self, rng: np.random.Generator, task: object | None = None) -> None:
        self.inner.reset(rng, task)
        self.human.reset(task)

    def decide(
        self, instruction: str, scene: SceneDescription, history: Sequence[SkillCall | HistoryStep]
    ) -> Decision:
        return drive(self.decide_steps(instruction, scene, history))

    def decide_steps(
        self, instruction: str, scene: SceneDescription, history: Sequence[SkillCall | HistoryStep]
    ) -> Steps[Decision]:
        """The inner planner's decision as steps (batched in a lockstep sweep), then the
        question."""
        d = yield from decision_steps(self.inner, instruction, scene, list(history))
        probs = option_probabilities(d.candidates)
        chosen_set = prediction_set(d, self.q_hat)
        options = [d.candidates[i].call for i in chosen_set]
        info: dict = {
            "q_hat": self.q_hat,
            "set": [c.to_text() for c in options],
            "set_probs": [round(float(probs[i]), 4) for i in chosen_set],
            "asked": False,
        }
        chosen = d.chosen
        if len(options) > 1:
            question = f'"{instruction}": which of these should I do next?'
            info.update(asked=True, question=question, human=getattr(self.human, "name", "human"))
            try:
                answer = self.human.ask(question, options, history)
            except NoAnswerError:
                if self.on_no_answer == "error":
                    raise
                answer, info["answer"] = -1, "(no answer: the planner's choice)"
            if answer is None:
                info["answer"] = "none of these"
                outside = [i for i in np.argsort(-probs) if i not in chosen_set and probs[i] > 0]
                chosen = d.candidates[int(outside[0])].call if outside else d.chosen
            elif answer >= 0:
                chosen = options[answer]
                info["answer"] = chosen.to_text()
        return replace(d, chosen=chosen, planner=self.name, help=info)

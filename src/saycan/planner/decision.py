"""What a planner decides, with every candidate's scores: the unit of the episode trace."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from saycan.skills.types import SkillCall


@dataclass(frozen=True)
class CandidateScore:
    call: SkillCall
    llm_logprob: float  # log p(option | prompt); nan when the planner did not ask the LLM
    affordance: float  # V(scene, call) in [0, 1]
    combined: float  # what the planner maximised
    pruned: bool = False  # affordance below the planner's threshold: never sent to the LLM

    def to_dict(self) -> dict:
        return {
            "call": self.call.to_text(),
            "llm_logprob": _finite_or_none(self.llm_logprob),
            "affordance": self.affordance,
            "combined": _finite_or_none(self.combined),
            "pruned": self.pruned,
        }


@dataclass(frozen=True)
class Decision:
    prompt: str
    candidates: tuple[CandidateScore, ...]
    chosen: SkillCall
    planner: str
    seconds: float = 0.0
    llm_stats: dict = field(default_factory=dict)
    # Ask-for-help (planner/ask.py): the prediction set, the question and the human's answer.
    help: dict | None = None
    # Planners that let the model write (a step, a goal, a program): what it wrote and how it was
    # read; for generate_ground the candidates' `combined` holds the grounding scores.
    generation: dict | None = None
    # Other wordings of the instruction the calls were also scored under (planner.rewriter).
    rewrites: tuple[str, ...] = ()

    def ranked(self) -> list[CandidateScore]:
        return sorted(self.candidates, key=lambda c: c.combined, reverse=True)

    def to_dict(self) -> dict:
        return {
            "planner": self.planner,
            "prompt": self.prompt,
            "chosen": self.chosen.to_text(),
            "candidates": [c.to_dict() for c in self.candidates],
            "seconds": self.seconds,
            "llm_stats": self.llm_stats,
            **({"help": self.help} if self.help is not None else {}),
            **({"generation": self.generation} if self.generation is not None else {}),
            **({"rewrites": list(self.rewrites)} if self.rewrites else {}),
        }


def option_probabilities(candidates: Sequence[CandidateScore]) -> np.ndarray:
    """The planner's softmax over its combined scores (forbidden options get 0): the
    confidence that conformal prediction calibrates (KnowNo)."""
    scores = np.array([c.combined for c in candidates], dtype=float)
    finite = np.isfinite(scores)
    probs = np.zeros(len(scores))
    if finite.any():
        z = np.exp(scores[finite] - scores[finite].max())
        probs[finite] = z / z.sum()
    return probs


def _finite_or_none(x: float) -> float | None:
    """JSON has no -inf/nan: forbidden options are recorded as null."""
    return float(x) if math.isfinite(x) else None

"""Several language models scoring as one: a weighted sum of their log-probabilities.

Two small models trained on the same data can fail on different instructions (one reads towers
by order, the other places named from the robot). A product of experts, log p = sum_i w_i log
p_i(option | prompt), keeps an option only as likely as all members together allow. With
weights summing to 1 (the default: equal weights) the result stays on one model's log-prob
scale, so a planner's `done_bias` and temperature keep their meaning.

Every member sees the same prompt and options; each tokenises them its own way, so there is
no common per-option token count (length-normalised planning refuses an ensemble).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from saycan.errors import ConfigError, ScorerError
from saycan.planner.scorers.base import (
    KeepsPromptCache,
    LanguageScorer,
    LoadsLazily,
    PinsPromptPrefix,
    ScorerStats,
    TrainedOn,
    model_name,
)
from saycan.planner.scorers.cache import fingerprint


class EnsembleScorer:
    """A `LanguageScorer` whose scores are `sum_i weights[i] * members[i].score(...)`.

    `stats` of a call is the members' costs added up (each member runs its own forward
    passes); `total_stats` the running total since construction.
    """

    def __init__(self, members: Sequence[LanguageScorer], weights: Sequence[float] | None = None):
        members = list(members)
        if len(members) < 2:
            raise ConfigError(f"an ensemble needs at least two scorers, got {len(members)}")
        for i, member in enumerate(members):
            if not isinstance(member, LanguageScorer):
                raise ConfigError(
                    f"ensemble member {i} ({type(member).__name__}) is not a language scorer "
                    "(it needs `name`, `stats` and `score(prompt, options)`)"
                )
        self.members = members
        self.weights = _checked_weights(weights, len(members))
        self.name = self._described(lambda m: m.name)
        self.stats = ScorerStats()
        self.total_stats = ScorerStats()

    def _weighted_members(self) -> list[tuple[LanguageScorer, float]]:
        return list(zip(self.members, self.weights))

    def _described(self, name_of: Callable[[Any], str]) -> str:
        """`ensemble(0.5*a, 0.5*b)`: each member's name with its weight."""
        return (
            "ensemble("
            + ", ".join(f"{w:g}*{name_of(m)}" for m, w in self._weighted_members())
            + ")"
        )

    @property
    def model_name(self) -> str:
        """The records' `llm`: every member's model (adapter included) and its weight."""
        return self._described(model_name)

    @property
    def cache_fingerprint(self) -> dict[str, Any]:
        """What keys a disk cache of its numbers: each member's own fingerprint (its adapter's
        digest included) and weight, so retraining a member's adapter misses the cache."""
        return {"ensemble": [[w, fingerprint(m)] for m, w in self._weighted_members()]}

    def load(self) -> None:
        """Load every member that loads lazily, so the first decision is not the slow one."""
        for member, _ in self._weighted_members():
            if isinstance(member, LoadsLazily):
                member.load()

    def score(self, prompt: str, options: Sequence[str]) -> np.ndarray:
        options = list(options)
        total = np.zeros(len(options), dtype=np.float64)
        stats = ScorerStats()
        for member, weight in self._weighted_members():
            scores = np.asarray(member.score(prompt, options), dtype=np.float64)
            if scores.shape != (len(options),):
                raise ScorerError(
                    f"ensemble member {member.name} returned scores of shape {scores.shape} "
                    f"for {len(options)} options"
                )
            total += weight * scores
            stats.add(member.stats)
        stats.calls = 1
        stats.options = len(options)
        self.stats = stats
        self.total_stats.add(stats)
        return total

    def trained_on(self) -> dict[str, range]:
        """Every member's training seeds: an ensemble is evaluated on none of them."""
        out: dict[str, range] = {}
        for member, _ in self._weighted_members():
            if isinstance(member, TrainedOn):
                out.update(member.trained_on())
        return out

    def reset_cache(self) -> None:
        """A new episode: every member that keeps a prompt cache drops it."""
        for member, _ in self._weighted_members():
            if isinstance(member, KeepsPromptCache):
                member.reset_cache()

    def pin_prefix(self, text: str) -> None:
        """The fixed prompt prefix, pinned in every member that can pin one."""
        for member, _ in self._weighted_members():
            if isinstance(member, PinsPromptPrefix):
                member.pin_prefix(text)


def _checked_weights(weights: object, n: int) -> list[float]:
    """One positive, finite number per member (None: equal, summing to 1). A string, a
    mapping or a truth value is refused, not read as numbers."""
    if weights is None:
        return [1.0 / n] * n
    if isinstance(weights, str | bytes | Mapping) or not isinstance(weights, Iterable):
        raise ConfigError(f"ensemble weights must be a list of {n} numbers, got {weights!r}")
    out = list(weights)
    if len(out) != n:
        raise ConfigError(f"an ensemble of {n} scorers needs {n} weights, got {len(out)}")
    if not all(_positive_number(w) for w in out):
        raise ConfigError(f"ensemble weights must be positive numbers, got {out}")
    return [float(w) for w in out]


def _positive_number(w: object) -> bool:
    return isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) and w > 0


__all__ = ["EnsembleScorer"]

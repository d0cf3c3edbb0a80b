"""One scorer shared by several episodes: each episode holds a `StreamScorer`, a view that
names its own kept prompt cache (stream) on the shared model, so that an episode starting or
ending forgets its own cache only, and requests of several views can share one batched pass."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from saycan.planner.scorers.base import CountsTokens, ScorerStats, TrainedOn, model_name


@runtime_checkable
class ScoresStreams(Protocol):
    """A scorer that scores several requests in one call, each on its own kept prompt cache
    (`TransformersScorer`); `batch_stats` / `batch_token_counts` hold each request's share."""

    name: str
    batch_stats: list[ScorerStats]
    batch_token_counts: list[list[int]]

    def score_many(
        self,
        requests: Sequence[tuple[str, Sequence[str]]],
        streams: Sequence[Hashable] | None = None,
    ) -> list[np.ndarray]: ...

    def forget_stream(self, stream: Hashable) -> None: ...

    def pin_prefix(self, text: str) -> None: ...

    def load(self) -> object: ...


class StreamScorer:
    """A `LanguageScorer` on `base` that keeps its prompt cache under `stream`. Its numbers,
    stats and name are what `base.score` would give an episode running alone."""

    def __init__(self, base: ScoresStreams, stream: Hashable):
        self.base = base
        self.stream = stream
        self.name = base.name
        self.stats = ScorerStats()
        self.last_token_counts: list[int] = []

    @property
    def model_name(self) -> str:
        return model_name(self.base)

    def load(self) -> None:
        self.base.load()

    def score(self, prompt: str, options: Sequence[str]) -> np.ndarray:
        return self.score_views([self], [(prompt, options)])[0]

    def trained_on(self) -> dict[str, range]:
        return self.base.trained_on() if isinstance(self.base, TrainedOn) else {}

    def counts_tokens(self) -> bool:
        return isinstance(self.base, CountsTokens) and self.base.counts_tokens()

    def reset_cache(self) -> None:
        """A new episode on this view: forget its own cache, never another episode's."""
        self.base.forget_stream(self.stream)

    def pin_prefix(self, text: str) -> None:
        """The prefix is pinned on the shared model: every episode's view starts from it."""
        self.base.pin_prefix(text)

    @staticmethod
    def score_views(
        views: Sequence[StreamScorer], requests: Sequence[tuple[str, Sequence[str]]]
    ) -> list[np.ndarray]:
        """One request per view (views of one base, distinct streams) in one `score_many`."""
        base = views[0].base
        scores = base.score_many(requests, [v.stream for v in views])
        for view, stats, counts in zip(views, base.batch_stats, base.batch_token_counts):
            view.stats, view.last_token_counts = stats, counts
        return scores


__all__ = ["ScoresStreams", "StreamScorer"]

"""Decisions as step-able computations: a planner yields the scoring it needs instead of
calling its language model, so one driver can score it at once (`drive`, one episode) and
another can gather the requests of several episodes into one batched pass (`score_together`,
`saycan eval lockstep=N`). Both run the same planner, loop and episode code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar, runtime_checkable

import numpy as np

from saycan.planner.scorers.base import LanguageScorer
from saycan.planner.scorers.streams import StreamScorer

T = TypeVar("T")
P = ParamSpec("P")


@dataclass
class ScoreRequest:
    """log p(option | prompt) for each option, wanted from `scorer`."""

    scorer: LanguageScorer
    prompt: str
    options: list[str]

    def run(self) -> np.ndarray:
        return self.scorer.score(self.prompt, self.options)


#: A computation that yields `ScoreRequest`s, is sent their scores, and returns a T.
Steps = Generator[ScoreRequest, np.ndarray, T]


@runtime_checkable
class SteppedPlanner(Protocol):
    """A planner whose decision can be paused at its scoring calls (batched across episodes)."""

    def decide_steps(self, instruction: str, scene: Any, history: list) -> Steps: ...


def decision_steps(planner: Any, instruction: str, scene: Any, history: list) -> Steps:
    """`planner`'s decision as steps; a planner that cannot pause decides in one go."""
    if isinstance(planner, SteppedPlanner):
        return (yield from planner.decide_steps(instruction, scene, history))
    return planner.decide(instruction, scene, history)


def drive(steps: Steps[T]) -> T:
    """Run `steps` alone, scoring each request as it comes. A scorer's exception is raised
    inside the computation, where its own handlers (an interrupted episode's) see it."""
    try:
        request = next(steps)
        while True:
            try:
                scores = request.run()
            except BaseException as exc:  # noqa: BLE001 - re-raised inside the computation
                request = steps.throw(exc)
            else:
                request = steps.send(scores)
    except StopIteration as stop:
        return stop.value


def driven(steps: Callable[P, Steps[T]]) -> Callable[P, T]:
    """The plain function of a step-able one: same arguments, its requests scored by `drive`."""

    @functools.wraps(steps)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        return drive(steps(*args, **kwargs))

    return run


def score_together(requests: Sequence[ScoreRequest]) -> list[np.ndarray | Exception]:
    """Every request's scores (or the error that scoring it raised), in order. Requests on
    views of one stream-capable scorer share one batched call; others run one by one."""
    results: list[np.ndarray | Exception] = [np.zeros(0)] * len(requests)
    groups: dict[int, list[int]] = {}
    for i, request in enumerate(requests):
        if isinstance(request.scorer, StreamScorer):
            groups.setdefault(id(request.scorer.base), []).append(i)
        else:
            try:
                results[i] = request.run()
            except Exception as exc:  # noqa: BLE001 - handed to the request's episode
                results[i] = exc
    for members in groups.values():
        views = [requests[i].scorer for i in members]
        try:
            scores = StreamScorer.score_views(
                views, [(requests[i].prompt, requests[i].options) for i in members]
            )
        except Exception as exc:  # noqa: BLE001 - every episode of the batch gets it
            scores = [exc] * len(members)
        for i, got in zip(members, scores):
            results[i] = got
    return results


__all__ = [
    "ScoreRequest",
    "SteppedPlanner",
    "Steps",
    "decision_steps",
    "drive",
    "driven",
    "score_together",
]

"""Episodes in lockstep: up to N run at once in one process, and every round their decisions'
scoring requests go to the language model together (`planner.stepping.score_together`: one
batched pass on a shared model) while physics stays per episode. With N = 1 this is the plain
serial sweep, through the same code.

Why a round waits for every running episode: the batches (which decisions share a pass) then
depend only on the episodes and N, never on timing, so a lockstep sweep is reproducible. An
episode's own computation is the one `run_episode` runs; a batched pass gives its scores up to
float rounding (about 1e-5 nats), far below any margin a decision is taken by.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from saycan.planner.stepping import ScoreRequest, Steps, score_together

J = TypeVar("J")
R = TypeVar("R")


@dataclass
class _Running(Generic[J]):
    job: J
    steps: Steps
    request: ScoreRequest


def run_lockstep(
    slots: int,
    jobs: Iterable[J],
    start: Callable[[int, J], Steps[R]],
    finish: Callable[[int, J, R | Exception], None],
) -> None:
    """Run every job, at most `slots` at once. `start(slot, job)` gives the job's steps (an
    episode); `finish(slot, job, result or the exception it raised)` is called as it ends, and
    a freed slot takes the next job at once. An exception from `start` or `finish` (a full
    disk) or an interrupt stops the lot: every running episode is closed (interrupted ones
    see the `Interrupted`, to write their files) and it goes on up."""
    if slots < 1:
        raise ValueError(f"lockstep needs at least one slot, got {slots}")
    queue = iter(jobs)
    running: dict[int, _Running[J]] = {}
    try:
        for slot in range(slots):
            _fill(slot, queue, running, start, finish)
        while running:
            order = sorted(running)
            results = score_together([running[s].request for s in order])
            for slot, got in zip(order, results):
                _advance(slot, running.pop(slot), got, queue, running, start, finish)
    except BaseException as exc:
        _stop_all(running, exc)
        raise


def _fill(slot, queue, running, start, finish) -> None:
    """Start jobs in `slot` until one is waiting on a scoring request (or none is left)."""
    for job in queue:
        entry = _Running(job, start(slot, job), None)
        if _step(slot, entry, None, finish):
            running[slot] = entry
            return


def _advance(slot, entry, got, queue, running, start, finish) -> None:
    if _step(slot, entry, got, finish):
        running[slot] = entry
    else:
        _fill(slot, queue, running, start, finish)


def _step(slot: int, entry: _Running, got: np.ndarray | Exception | None, finish) -> bool:
    """Send the job its scores (or raise its scoring error inside it); True while it waits on
    another request, False once it has ended (and `finish` was called)."""
    try:
        if got is None:
            entry.request = next(entry.steps)
        elif isinstance(got, BaseException):
            entry.request = entry.steps.throw(got)
        else:
            entry.request = entry.steps.send(got)
        return True
    except StopIteration as stop:
        ended = stop.value
    except Exception as exc:  # noqa: BLE001 - a broken episode is its own record
        ended = exc
    finish(slot, entry.job, ended)
    return False


def _stop_all(running: dict[int, _Running], exc: BaseException) -> None:
    """Close every running episode: an interrupt is raised inside each one (its handler
    writes the trace and episode.json), anything else just closes it."""
    for entry in running.values():
        with contextlib.suppress(BaseException):  # the first exception is the one that goes up
            if isinstance(exc, KeyboardInterrupt):
                entry.steps.throw(exc)
            entry.steps.close()
    running.clear()


__all__ = ["run_lockstep"]

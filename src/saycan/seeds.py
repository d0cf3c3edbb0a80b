"""Seed ranges, in one place, so that nothing is evaluated on what it was built from.

Every seed fixes a scene, an instruction and its paraphrase template. Models and example pools
are built from the ranges below; `saycan eval` uses `seed_start` (100000) upwards, and the
development seeds (1000-1004) tune nothing that ships without being re-measured. A trainer
calls `check_training_seeds`, and the planner refuses to evaluate on the seeds its adapter or
example pool came from (`assert_not_training_seed`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from saycan.errors import ConfigError
from saycan.planner.scorers.base import TrainedOn, UsesLanguageModel

#: The planner adapter's expert episodes and the retrieved few-shot example pool.
PLANNER_TRAINING = range(600_000, 610_000)
#: Default evaluation seeds (`saycan eval`'s seed_start) and the development seeds.
EVALUATION_START = 100_000
EVALUATION = range(EVALUATION_START, EVALUATION_START + 100_000)
DEVELOPMENT = range(1000, 1005)


def check_training_seeds(seeds: Iterable[int], allowed: range = PLANNER_TRAINING) -> None:
    """Training seeds must lie in their range (so they never meet evaluation or development)."""
    bad = sorted({int(s) for s in seeds if int(s) not in allowed})
    if bad:
        raise ConfigError(
            f"training seeds {bad[:5]}{'...' if len(bad) > 5 else ''} are outside the training "
            f"range {allowed.start}..{allowed.stop - 1}; evaluation and development seeds must "
            "never be trained on"
        )


def assert_not_training_seed(seed: int, trained_on: range | None, what: str) -> None:
    """Refuse to evaluate on a seed that `what` (an adapter, an example pool) was built from."""
    if trained_on is not None and int(seed) in trained_on:
        raise ConfigError(
            f"seed {seed} is one {what} was built from "
            f"({trained_on.start}..{trained_on.stop - 1}); evaluate on other seeds"
        )


@runtime_checkable
class RendersPrompt(Protocol):
    """A planner that renders its prompt with a prompt builder (`prompt`)."""

    prompt: object


@runtime_checkable
class WritesWithModel(Protocol):
    """A planner whose language model writes text (`generator`): generate-and-ground, code."""

    generator: object


@runtime_checkable
class ExamplePool(Protocol):
    """A prompt whose few-shot examples come from expert episodes: their seeds."""

    pool_seeds: range


def built_from(planner: object) -> dict[str, range]:
    """The seed ranges a planner's parts were built from: its scorer's and its generator's
    adapters (through any wrapper: disk cache, lockstep view, ensemble) and its prompt's
    example pool. Evaluation checks each seed against them."""
    out: dict[str, range] = {}
    if isinstance(planner, UsesLanguageModel) and isinstance(planner.scorer, TrainedOn):
        out.update(planner.scorer.trained_on())
    # a generator with its own adapter, when another model scores what it wrote
    if isinstance(planner, WritesWithModel) and isinstance(planner.generator, TrainedOn):
        out.update(planner.generator.trained_on())
    if isinstance(planner, RendersPrompt) and isinstance(planner.prompt, ExamplePool):
        out["the few-shot example pool"] = planner.prompt.pool_seeds
    return out

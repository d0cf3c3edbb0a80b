"""The text-generation contract, for planner families that let the model write (a next step,
a goal, a short program) instead of only scoring a fixed candidate list.

One protocol for every backend (transformers models, `llm=openai` completions,
`llm=openai_chat`, `saycan serve-llm`), so a planner never asks which backend it runs on.
Generated text is data: planners parse or ground it, and nothing ever executes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Generation:
    """What one `generate` call returned and what it cost (recorded in the episode trace)."""

    text: str  # the continuation, cut before the first stop sequence (which is not included)
    prompt_tokens: int
    generated_tokens: int
    stopped_by: str  # "stop" (a stop sequence), "length" (the token cap) or "eos"
    seconds: float


@runtime_checkable
class TextGenerator(Protocol):
    """Continues a prompt greedily (or as configured) up to a token cap or a stop sequence.

    Attributes:
        name: short, stable identifier of the backend + model, recorded in traces.
    """

    name: str

    def generate(
        self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()
    ) -> Generation:
        """Return the continuation of `prompt`. Raises `saycan.errors.ScorerError` (or a
        subclass) when the backend fails, like the scorers do."""
        ...

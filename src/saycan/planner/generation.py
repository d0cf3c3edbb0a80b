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
    # What the model actually ran (a kept prompt cache saves the shared head); None: the
    # backend cannot tell (a remote server), and the cost is prompt + generated tokens.
    tokens_computed: int | None = None

    @property
    def tokens(self) -> int:
        """Tokens this call cost: what the model ran when known, else prompt + generated."""
        if self.tokens_computed is not None:
            return self.tokens_computed
        return self.prompt_tokens + self.generated_tokens

    def to_dict(self) -> dict:
        """Plain dict for traces (the decision's `llm_stats` and `generation`)."""
        return {
            "text": self.text,
            "prompt_tokens": self.prompt_tokens,
            "generated_tokens": self.generated_tokens,
            "stopped_by": self.stopped_by,
            "seconds": round(self.seconds, 4),
            "tokens_computed": self.tokens,
        }


@runtime_checkable
class TextGenerator(Protocol):
    """Continues a prompt greedily (or as configured) up to a token cap or a stop sequence.

    Attributes:
        name: short, stable identifier of the backend + model, recorded in traces.
    """

    name: str

    def generate(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> Generation:
        """Return the continuation of `prompt`. Raises `saycan.errors.ScorerError` (or a
        subclass) when the backend fails, like the scorers do."""
        ...


@runtime_checkable
class ScoresToo(Protocol):
    """A generator whose model can also score options (the same loaded weights, the same
    server): a planner that grounds by log-prob uses it, so the model is loaded once."""

    scorer: object  # a LanguageScorer (planner/scorers/base.py)

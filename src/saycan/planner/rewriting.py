"""Scoring under rewrites of the instruction: the capability a rewriter declares.

A small model scores skill calls best when the instruction uses the words it was trained on; a
person's words may differ ("the cube the colour of grass"). A rewriter offers other wordings of
the same request; the planner scores every call under each and averages the log-probs, so no
single wording decides alone. Rewriters never see model output, and nothing they return is
evaluated: a rewrite is only text put in the prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from saycan.errors import ConfigError


@runtime_checkable
class InstructionRewriter(Protocol):
    def rewrites(self, instruction: str) -> Sequence[str]:
        """Other wordings of `instruction` with the same meaning (none is fine)."""
        ...


def checked_rewriter(rewriter: object | None) -> InstructionRewriter | None:
    """The planner's `rewriter`, checked once when it is built."""
    if rewriter is not None and not (
        isinstance(rewriter, InstructionRewriter) and callable(rewriter.rewrites)
    ):
        raise ConfigError(
            f"planner.rewriter must have rewrites(instruction) -> list of str; got "
            f"{type(rewriter).__name__}"
        )
    return rewriter


def wordings(instruction: str, rewriter: InstructionRewriter | None) -> list[str]:
    """The instruction first, then each distinct non-empty rewrite of it."""
    out = [instruction]
    said = rewriter.rewrites(instruction) if rewriter is not None else ()
    if isinstance(said, (str, bytes)) or not isinstance(said, Iterable):
        raise ConfigError(f"planner.rewriter returned {type(said).__name__}, not a list of strings")
    for text in said:
        if not isinstance(text, str):
            raise ConfigError(f"planner.rewriter returned {type(text).__name__}, not a string")
        if text.strip() and text not in out:
            out.append(text)
    return out

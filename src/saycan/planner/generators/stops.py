"""Where generated text ends: the first stop sequence, wherever a backend found it."""

from __future__ import annotations

from collections.abc import Sequence

from saycan.errors import ConfigError

MAX_STOPS = 4  # OpenAI's own limit; every backend keeps it so configs port between them


def check_stops(stop: Sequence[str]) -> tuple[str, ...]:
    """The stop sequences as a tuple; empty strings or more than MAX_STOPS are a ConfigError
    (an empty stop would end every generation before its first character)."""
    stops = (stop,) if isinstance(stop, str) else tuple(stop)
    if len(stops) > MAX_STOPS:
        raise ConfigError(f"at most {MAX_STOPS} stop sequences, got {len(stops)}")
    for s in stops:
        if not isinstance(s, str) or not s:
            raise ConfigError(f"stop sequences must be non-empty text, got {s!r}")
    return stops


def check_cap(max_new_tokens: object) -> int:
    """The token cap as an int >= 1 (a bool or a float is a ConfigError, not a silent cast)."""
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or max_new_tokens < 1
    ):
        raise ConfigError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
    return max_new_tokens


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """`text` up to (not including) the earliest stop sequence, and whether one was found."""
    cuts = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)

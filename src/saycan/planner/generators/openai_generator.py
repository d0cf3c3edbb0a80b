"""Generation through an OpenAI-compatible API: `/v1/completions` (llm=openai) or
`/v1/chat/completions` (llm=openai_chat), greedy (temperature 0), with the server's own stop
sequences and token cap.

The connection (client, served-model lookup, timeouts, retries, the key from the environment)
and the mapping of failures to typed `ScorerError`s are the scorer's: this module builds an
`OpenAIScorer` with the llm config's connection settings and sends its requests through it.
OpenAI reports `finish_reason="stop"` for both a stop sequence and the model's end of text, so
`stopped_by` is "stop" for either. The text is cut at the first stop sequence here too, in case
a server returns it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from saycan.errors import ConfigError
from saycan.planner.generation import Generation
from saycan.planner.generators.stops import check_cap, check_stops, cut_at_stop
from saycan.planner.scorers.base import ScorerStats
from saycan.planner.scorers.openai_scorer import OpenAIScorer, ScorerResponseError

MODES = ("completions", "chat")


class OpenAIGenerator:
    """A `TextGenerator` over an OpenAI-compatible server; `mode` picks the endpoint."""

    def __init__(
        self,
        mode: str = "completions",
        model: str | None = None,
        base_url: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        max_retries: int = 3,
    ):
        if mode not in MODES:
            raise ConfigError(
                f"unknown openai generation mode {mode!r}; choose one of {list(MODES)}"
            )
        self.mode = mode
        self.api = OpenAIScorer(
            model=model,
            base_url=base_url,
            api_key_env=api_key_env,
            timeout_s=timeout_s,
            max_retries=max_retries,
        )
        self.scorer = self.api  # generation.ScoresToo: log-probs from the same server
        self.name = f"openai-generate-{mode}:{model or 'served'}"
        self.stats = ScorerStats()  # requests of the last call (retries are the client's)

    @property
    def model_name(self) -> str:
        return self.api.model_name

    def generate(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> Generation:
        """One greedy request; `stop` and `max_new_tokens` travel to the server."""
        start = time.perf_counter()
        stops = check_stops(stop)
        max_new_tokens = check_cap(max_new_tokens)
        self.stats = ScorerStats(calls=1)
        client, model = self.api.client, self.api.served_model()
        extra: dict[str, Any] = {"stop": list(stops)} if stops else {}
        if self.mode == "completions":
            reply = self.api.request(
                self.stats,
                lambda: client.completions.create(
                    model=model, prompt=prompt, max_tokens=max_new_tokens, temperature=0, **extra
                ),
            )
            text = _text(_choice(reply, "text"))
        else:
            reply = self.api.request(
                self.stats,
                lambda: client.chat.completions.create(
                    model=model,
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens=max_new_tokens,
                    temperature=0,
                    **extra,
                ),
            )
            text = _text(_choice(reply, "message").content or "")
        text, cut = cut_at_stop(text, stops)
        finish = _choice(reply, "finish_reason")
        usage = getattr(reply, "usage", None)
        return Generation(
            text=text,
            prompt_tokens=_count(getattr(usage, "prompt_tokens", 0)),
            generated_tokens=_count(getattr(usage, "completion_tokens", 0)),
            stopped_by="stop" if cut or finish == "stop" else "length",
            seconds=time.perf_counter() - start,
        )


def _text(value: Any) -> str:
    """The generated text; a server that sends something else sent a malformed reply."""
    if not isinstance(value, str):
        raise ScorerResponseError(
            f"the server's generated text is {type(value).__name__}, not text"
        )
    return value


def _count(value: Any) -> int:
    """A token count of the reply's usage; absent or not a count: 0 (unknown)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _choice(reply: Any, name: str) -> Any:
    """A field of the reply's first choice; a reply without it is malformed."""
    try:
        value = getattr(reply.choices[0], name)
    except (AttributeError, IndexError, TypeError):
        value = None
    if value is None:
        raise ScorerResponseError(f"the server's reply has no choices[0].{name}")
    return value


__all__ = ["MODES", "OpenAIGenerator"]

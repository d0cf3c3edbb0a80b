"""A real `saycan serve-robot` in another process, on 127.0.0.1 and a free port, for tests."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from saycan.drivers.serve import spawn_host

TOKEN = "test-robot-token-5f1c"
TOKEN_ENV = "SAYCAN_TEST_ROBOT_TOKEN"


@dataclass
class Host:
    proc: subprocess.Popen
    address: str
    log_path: Path
    output: list[str]

    def events(self, kind: str | None = None) -> list[dict]:
        """The host's own record (host.jsonl), optionally only events of `kind`."""
        if not self.log_path.exists():
            return []
        lines = [json.loads(x) for x in self.log_path.read_text().splitlines() if x.strip()]
        return [e for e in lines if kind is None or e["event"] == kind]

    def wait_for(self, kind: str, timeout: float = 30.0, count: int = 1) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(kind)
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"no {kind!r} event in the host's record within {timeout} s")

    def client_overrides(self) -> list[str]:
        return ["robot=remote", f"robot.address={self.address}", f"robot.token_env={TOKEN_ENV}"]


def client_env() -> None:
    os.environ[TOKEN_ENV] = TOKEN


@contextmanager
def robot_host(run_dir: Path, *overrides: str) -> Iterator[Host]:
    """`saycan serve-robot` with `overrides`, ready when it prints its address."""
    env = {**os.environ, TOKEN_ENV: TOKEN}
    proc, address, output = spawn_host(
        ["port=0", f"token_env={TOKEN_ENV}", f"hydra.run.dir={run_dir}", *overrides], env
    )
    try:
        yield Host(proc, address, Path(run_dir) / "host.jsonl", output)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

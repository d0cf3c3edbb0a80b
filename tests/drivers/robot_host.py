"""A real `saycan serve-robot` in another process, on 127.0.0.1 and a free port, for tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TOKEN = "test-robot-token-5f1c"
TOKEN_ENV = "SAYCAN_TEST_ROBOT_TOKEN"
READY = re.compile(r"serving (\S+) on (tcp://127\.0\.0\.1:\d+)")


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
def robot_host(run_dir: Path, *overrides: str, timeout: float = 120.0) -> Iterator[Host]:
    """`saycan serve-robot` with `overrides`, ready when it prints its address."""
    env = {**os.environ, TOKEN_ENV: TOKEN}
    cmd = [sys.executable, "-m", "saycan.cli", "serve-robot", "port=0", f"token_env={TOKEN_ENV}",
           f"hydra.run.dir={run_dir}", *overrides]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    output: list[str] = []
    found: list[str] = []

    def read() -> None:  # keep the pipe drained for the host's whole life
        for line in proc.stdout:
            output.append(line)
            m = READY.search(line)
            if m and not found:
                found.append(m.group(2))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not found:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("serve-robot did not start:\n" + "".join(output))
        time.sleep(0.05)
    try:
        yield Host(proc, found[0], Path(run_dir) / "host.jsonl", output)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

"""`saycan serve-robot robot=<driver>`: the arm's computer serves its driver to a planner.

The shared token is read from the environment variable named by `token_env` and never printed.
With `scene=...` a simulator places a sampled scene (seeded by `seed`) before serving, so a
client that sees no ground truth can be handed a world to act on.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from saycan.drivers.base import SimulatorExtras
from saycan.drivers.robot_host import RobotHost
from saycan.errors import ConfigError, DriverError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve_command(cfg: DictConfig, run_dir: Path) -> int:
    token = os.environ.get(str(cfg.token_env), "")
    if not token:
        raise ConfigError(
            f"set the environment variable {cfg.token_env} to a shared secret "
            "(the same on the planner's computer) before serve-robot"
        )
    driver = instantiate(cfg.robot)
    driver.connect()
    try:
        if cfg.get("scene") is not None:
            if not isinstance(driver, SimulatorExtras):
                raise ConfigError(f"scene=... places objects in a simulator; {driver.name} is none")
            objects = instantiate(cfg.scene).sample(np.random.default_rng(int(cfg.seed)))
            driver.reset_scene(objects, seed=int(cfg.seed))
        host = RobotHost(
            driver,
            token=token,
            bind=str(cfg.host),
            port=cfg.port,  # checked by RobotHost
            heartbeat_timeout_s=cfg.heartbeat_timeout_s,
            debug=cfg.debug,
            delay_s=cfg.delay_s,
            log_path=Path(run_dir) / "host.jsonl",
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: host.stop())
        exposed = "" if str(cfg.host) in LOCAL_HOSTS else " (reachable from other machines)"
        mode = (
            "debug mode: ground truth and scene control on the wire" if host.debug else "debug off"
        )

        def ready() -> None:
            print(
                f"serve-robot: serving {driver.name} on {host.address}{exposed}; {mode}; "
                f"record {run_dir / 'host.jsonl'}",
                flush=True,
            )

        host.serve(ready)
    finally:
        driver.disconnect()
    return 0


READY = re.compile(r"serving \S+ on (tcp://[^\s;]+)")


def spawn_host(
    overrides: list[str],
    env: dict[str, str],
    *,
    timeout_s: float = 120.0,
) -> tuple[subprocess.Popen, str, list[str]]:
    """`saycan serve-robot` in another process (benchmarks, tests); returns it once it listens,
    with its address and its output lines (kept drained for its whole life)."""
    cmd = [sys.executable, "-m", "saycan.cli", "serve-robot", *overrides]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    lines: list[str] = []
    found: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            m = READY.search(line)
            if m and not found:
                found.append(m.group(1))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not found:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise DriverError("serve-robot did not start: " + "".join(lines)[-800:])
        time.sleep(0.05)
    return proc, found[0], lines

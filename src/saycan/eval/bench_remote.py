"""Benchmark of the networked driver: the primitives benchmark's pick-and-place trials run
over `robot=remote_sim` against a `saycan serve-robot debug=true` started here (another
process, 127.0.0.1, a fresh token), then the same trials on the local driver, in one run.

Reports the success rate over the wire and the per-skill overhead: the median wall time of
one pick_and_place over the wire divided by the local one. The local trials let the world
settle for 120 steps before judging (`run_trial`); the remote driver has no settle call, so
its trials are judged right after the skill.
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from saycan.drivers.remote import RemoteSimDriver
from saycan.drivers.serve import spawn_host
from saycan.eval.bench_primitives import _run_range, make_trial, run_trial

TOKEN_ENV = "SAYCAN_BENCH_ROBOT_TOKEN"


def _start_host(cfg: DictConfig, robot: str, run_dir: Path) -> tuple[subprocess.Popen, str]:
    proc, address, _ = spawn_host(
        [
            f"robot={robot}",
            "port=0",
            "debug=true",
            f"token_env={TOKEN_ENV}",
            f"delay_s={float(cfg.delay_s)}",
            f"heartbeat_timeout_s={float(cfg.heartbeat_timeout_s)}",
            f"robot.camera_width={int(cfg.camera_width)}",
            f"robot.camera_height={int(cfg.camera_height)}",
            f"hydra.run.dir={run_dir}",
        ],
        {**os.environ},
    )
    return proc, address


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = sum(r["success"] for r in rows)
    return {
        "successes": int(ok),
        "success_rate": round(ok / len(rows), 4) if rows else 0.0,
        "failed_seeds": {r["seed"]: r["reason"] for r in rows if not r["success"]},
        "median_wall_s": round(statistics.median(r["wall_s"] for r in rows), 4) if rows else None,
    }


def bench_remote(cfg: DictConfig) -> dict[str, Any]:
    trials = int(cfg.trials)
    seeds = [int(cfg.seed_start) + i for i in range(trials)]
    kinds = list(cfg.kinds)
    robot = HydraConfig.get().runtime.choices.get("robot", "panda")
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    os.environ[TOKEN_ENV] = secrets.token_hex(16)  # this run's secret, for the child only
    t0 = time.perf_counter()
    proc, address = _start_host(cfg, robot, run_dir / "host")
    try:
        driver = RemoteSimDriver(
            address, token_env=TOKEN_ENV, host_timeout_s=float(cfg.host_timeout_s)
        )
        driver.connect()
        try:
            remote = [
                run_trial(driver, make_trial(s, kinds[i % len(kinds)])) for i, s in enumerate(seeds)
            ]
        finally:
            driver.disconnect()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    remote_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    local = _run_range(OmegaConf.to_yaml(cfg, resolve=False), seeds)
    local_s = time.perf_counter() - t1
    r, lo = _summary(remote), _summary(local)
    return {
        "robot": f"remote_sim -> {robot}",
        "trials": trials,
        "seed_start": int(cfg.seed_start),
        "delay_s": float(cfg.delay_s),
        "remote": r,
        "local": lo,
        "success_rate": r["success_rate"],
        # one pick_and_place over the wire / the same one on the local driver (medians)
        "overhead_ratio": round(r["median_wall_s"] / lo["median_wall_s"], 3) if trials else None,
        "remote_total_s": round(remote_s, 1),
        "local_total_s": round(local_s, 1),
    }

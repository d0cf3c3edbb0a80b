"""The closed loop end to end with real PyBullet: feedback makes a disturbed step get retried, the
simulated human resolves an ambiguous task, traces and pages show it all, and `saycan
calibrate` writes q_hat on calibration seeds only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from saycan.errors import ConfigError
from saycan.eval.calibrate import calibrate_command, check_calibration_seeds
from saycan.eval.viewer import write_episode_html
from saycan.runtime.closed_loop import gain_interval
from saycan.runtime.components import Components
from saycan.runtime.episode import run_episode

KNOCK_ONCE = [
    "planner=oracle",
    "executor=teleport",
    "task=stack_blocks",
    "disturbance=knock_placed",
    "disturbance.probability=1.0",
    "disturbance.max_per_episode=1",
]


def _episode(tmp_path: Path, overrides: list[str], seed: int = 100000, task: str | None = None):
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("eval", overrides=overrides)
    components = Components(cfg)
    try:
        return run_episode(
            components, task or str(cfg.task), seed, tmp_path, video=False, frames=False
        )
    finally:
        components.close()


def test_a_knocked_block_is_retried_only_with_feedback(tmp_path: Path):
    closed = _episode(tmp_path / "on", [*KNOCK_ONCE, "prompt.feedback=success"])
    assert closed.success, closed.unmet
    assert closed.extras["disturbances"] == 1 and closed.extras["detected_failures"] == 1
    first, retry = closed.plan[0], closed.plan[1]
    assert first == retry  # the knocked step is repeated after "Success: no"
    trace = [json.loads(line) for line in Path(closed.trace).read_text().splitlines()]
    assert trace[0]["disturbances"][0]["kind"] == "knock_placed"
    assert trace[0]["detected_success"] is False and trace[0]["feedback"] == ["Success: no"]
    assert trace[1]["detected_success"] is True

    page = write_episode_html(tmp_path / "on").read_text()
    assert "was knocked off its place" in page and "Success: no" in page

    open_loop = _episode(tmp_path / "off", [*KNOCK_ONCE, "prompt.feedback=none"])
    assert not open_loop.success  # same seed, same knock, no retry
    assert open_loop.extras["disturbances"] == 1 and open_loop.plan[0] != open_loop.plan[1]


ASK = ["executor=teleport", "planner=affordance_only", "ask_for_help=conformal"]


def test_the_simulated_human_resolves_an_ambiguous_task(tmp_path: Path):
    # affordance_only spreads its probability over the ~20 feasible calls: with q_hat = 0.99
    # every call with p >= 0.01 is in the set, so the robot asks, and the answer is the binding.
    helped = _episode(
        tmp_path / "ask", [*ASK, "ask_for_help.q_hat=0.99"], task="ambiguous_block_in_bowl"
    )
    assert helped.success, helped.plan
    assert helped.extras["questions"] >= 1
    assert helped.extras["covered_decisions"] == helped.extras["on_track_decisions"] >= 1
    trace = [json.loads(line) for line in Path(helped.trace).read_text().splitlines()]
    assert "which of these should I do next?" in trace[0]["question"]
    assert trace[0]["answer"] == helped.extras["expert_plan"][0]
    page = write_episode_html(tmp_path / "ask").read_text()
    assert "question" in page and helped.extras["expert_plan"][0] in page


def test_calibrate_writes_q_hat_on_calibration_seeds(tmp_path: Path, capsys):
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(
            "calibrate",
            overrides=[
                "planner=oracle",
                "tasks=[ambiguous_bowl]",
                "episodes_per_task=2",
                "epsilon=0.5",
                f"output={tmp_path / 'q.json'}",
            ],
        )
    assert calibrate_command(cfg, tmp_path) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (
        json.loads((tmp_path / "q.json").read_text())["q_hat"] == result["q_hat"] == 0.0
    )  # oracle: certain
    assert result["decisions"] == 4 and result["seeds"] == [2000, 2001]
    # At the calibrated level this planner never asks on unambiguous tasks (it is certain
    # there, as on the calibration set): no question, and the task is solved.
    for task in ("put_block_in_bowl", "put_block_on_block"):
        episode = _episode(
            tmp_path / task,
            [
                "planner=oracle",
                "executor=teleport",
                "ask_for_help=conformal",
                f"ask_for_help.quantile_file={tmp_path / 'q.json'}",
            ],
            task=task,
        )
        assert episode.success and episode.extras["questions"] == 0
        assert episode.extras["covered_decisions"] == episode.extras["on_track_decisions"] == 2


@pytest.mark.parametrize("seeds", [range(998, 1001), range(99990, 100001), range(5, 5)])
def test_calibration_seeds_must_avoid_dev_and_eval_seeds(seeds):
    with pytest.raises(ConfigError):
        check_calibration_seeds(seeds)
    check_calibration_seeds(range(2000, 2010))


def test_calibrate_cli_reports_bad_seeds_in_one_line(tmp_path: Path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "calibrate",
            "seed_start=1003",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith("saycan: error: calibration seeds [1003, 1004]")
    )


def test_gain_interval_matches_newcombe():
    # Newcombe (1998), table II, example (a): 56/70 vs 48/80 -> 0.2, [0.0524, 0.3339].
    result = gain_interval(56, 70, 48, 80)
    assert result["gain"] == 0.2 and result["ci95"] == pytest.approx([0.0524, 0.3339], abs=1e-3)

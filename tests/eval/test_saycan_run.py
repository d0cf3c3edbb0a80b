"""End to end with the real packaged default LLM and physics: `saycan run` solves
put_block_in_bowl, prints one decision table per step, and ends with one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_saycan_run_default_llm_physics_put_block_in_bowl(tmp_path: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "saycan.cli", "run", "task=put_block_in_bowl", "seed=0"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    result = json.loads(last)
    for key in (
        "task",
        "seed",
        "instruction",
        "success",
        "steps",
        "plan",
        "trace",
        "video",
        "wall_s",
    ):
        assert key in result, key
    assert result["task"] == "put_block_in_bowl" and result["seed"] == 0
    assert result["success"] is True
    assert result["plan"][-1] == "robot.done()"
    # A decision table per step, with the chosen call marked.
    assert proc.stdout.count("llm log p") == result["steps"]
    trace = [json.loads(line) for line in Path(result["trace"]).read_text().splitlines()]
    assert len(trace) == result["steps"]
    first = trace[0]
    assert first["chosen"] == result["plan"][0]
    assert {"call", "llm_logprob", "affordance", "combined"} <= set(first["candidates"][0])
    assert any(c["call"] == "robot.done()" for c in first["candidates"])
    assert (Path(result["trace"]).parent / first["frame"]).is_file()
    video = Path(result["video"])
    assert video.is_file() and video.stat().st_size > 10_000

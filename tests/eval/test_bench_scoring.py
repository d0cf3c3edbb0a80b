"""`saycan bench scoring` prints one JSON line with the figures the issue asks for, measured
against the reference path on the real packaged model (a short prompt keeps this quick)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_bench_scoring_reports_speed_and_exactness(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "saycan.cli", "bench", "scoring",
         "cases=[{name: small, blocks: 2, bowls: 2}]", "prompt.examples=[]", "repeats=1"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    (case,) = result["cases"]
    assert case["options"] == 2 * (1 + 2 + 5) + 1
    for key in ("prompt_tokens", "naive_s", "fast_s", "speedup", "max_abs_diff", "tokens_naive", "tokens_fast"):
        assert key in case
    assert case["tokens_fast"] < case["tokens_naive"]
    assert result["max_abs_diff"] <= 1e-3 and result["failed"] is False
    assert result["machine"]["cpu_count"] >= 1

"""`saycan bench scoring` prints one JSON line with the figures the issue asks for, measured
against the reference path on the real packaged model (a short prompt keeps this quick)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


# Slow: a model load and a reference pass per option; the fast suite keeps the one-pass and
# exactness checks on the real model (tests/planner/test_packed_scoring.py).
@pytest.mark.slow
def test_bench_scoring_reports_speed_and_exactness(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "bench",
            "scoring",
            "cases=[{name: small, prompt: prompt, blocks: 2, bowls: 2}]",
            "repeats=1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    (case,) = result["cases"]
    assert case["options"] == 2 * (1 + 2 + 5) + 1
    for key in (
        "prompt_tokens",
        "naive_s",
        "fast_cold_s",
        "fast_warm_s",
        "speedup_cold",
        "floor_cold_s",
        "floor_warm_s",
        "ratio_cold",
        "ratio_warm",
        "fast_new_episode_s",
        "floor_new_episode_s",
        "ratio_new_episode",
        "floor_warm_rows_s",
        "ratio_warm_rows",
    ):
        assert case[key] > 0
    # the last prompt token + the trie's inner nodes, a subset of what a cold decision computes
    assert 1 < case["logit_rows"] <= 1 + case["tokens_cold"] - case["prompt_tokens"]
    assert case["forward_calls_cold"] == case["forward_calls_warm"] == 1  # one pass a decision
    assert case["tokens_warm"] < case["tokens_cold"] < case["tokens_naive"]
    assert case["prompt_tokens_reused_warm"] == case["prompt_tokens"]
    # the default prompt has no fixed examples: a new episode costs what the first one does
    assert case["prefix_tokens"] == 0 and case["tokens_new_episode"] == case["tokens_cold"]
    assert result["max_abs_diff"] <= 1e-3 and result["failed"] is False
    assert len(result["loadavg_start"]) == len(result["loadavg_end"]) == 3
    assert result["machine"]["cpu_count"] >= 1

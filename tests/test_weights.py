"""Non-finite weights are refused when a model is loaded, with one line naming the file: the
segmenter, the learned affordance, the planner adapter, and transformers models (the language
model, the sentence embedder). A NaN checkpoint once loaded silently and saw an empty table.
And the fingerprint that names a model by its numbers changes with any of them."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from saycan.errors import ModelLoadError

ASSETS = Path(__file__).resolve().parents[1] / "src" / "saycan" / "assets"


def _poison_numpy(path: Path, key: str | None = None) -> str:
    """Put one NaN into a tensor of the safetensors file at `path` (the first, or `key`)."""
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(path))
    key = key or sorted(k for k, v in tensors.items() if np.issubdtype(v.dtype, np.floating))[0]
    bad = tensors[key].copy()
    bad.flat[0] = np.nan
    save_file({**tensors, key: bad}, str(path))
    return key


def test_segmenter_with_nan_weights_is_refused(tmp_path):
    from saycan.perception.segmenter import SegmenterPerception

    for name in ("segmenter.safetensors", "segmenter.json"):
        shutil.copy(ASSETS / "perception" / name, tmp_path / name)
    checkpoint = tmp_path / "segmenter.safetensors"
    key = _poison_numpy(checkpoint)
    with pytest.raises(ModelLoadError) as err:
        SegmenterPerception(checkpoint=str(checkpoint))
    assert str(err.value) == (
        f"{checkpoint}: non-finite weights (NaN or inf) in {key}: 1 of "
        f"{_size(checkpoint, key)} values; the file is corrupt: restore it or train it again"
    )


def test_weights_that_overflow_when_cast_are_refused(tmp_path):
    # A float64 1e300 is finite in the file and inf in the float32 model: it loaded silently.
    from safetensors.numpy import load_file, save_file

    from saycan.perception.segmenter import SegmenterPerception
    from saycan.skills.affordances.learned import LearnedAffordance

    for sub, names in (
        ("perception", ("segmenter.safetensors", "segmenter.json")),
        ("affordance", ("panda.json", "panda.safetensors")),
    ):
        for name in names:
            shutil.copy(ASSETS / sub / name, tmp_path / name)
    for weights in (tmp_path / "segmenter.safetensors", tmp_path / "panda.safetensors"):
        tensors = load_file(str(weights))
        key = sorted(k for k, v in tensors.items() if np.issubdtype(v.dtype, np.floating))[0]
        big = tensors[key].astype(np.float64)
        big.flat[0] = 1e300
        save_file({**tensors, key: big}, str(weights))
    checkpoint = tmp_path / "segmenter.safetensors"
    with pytest.raises(
        ModelLoadError,
        match=rf"^{checkpoint}: non-finite weights \(NaN or inf\) "
        r"in .*: 1 of \d+ values",
    ):
        SegmenterPerception(checkpoint=str(checkpoint))
    with pytest.raises(ModelLoadError, match=r"is not finite as float32 \(NaN, inf or too large\)"):
        LearnedAffordance(checkpoint=tmp_path / "panda.json")


def test_saycan_run_with_a_nan_segmenter_is_one_line_and_exit_2(tmp_path, capsys):
    from saycan.cli import main

    for name in ("segmenter.safetensors", "segmenter.json"):
        shutil.copy(ASSETS / "perception" / name, tmp_path / name)
    checkpoint = tmp_path / "segmenter.safetensors"
    _poison_numpy(checkpoint)
    argv = sys.argv
    try:
        code = main(
            [
                "run",
                "planner=oracle",
                "executor=teleport",
                "perception=segmenter",
                f"perception.checkpoint={checkpoint}",
                "video=false",
                "frames=false",
                "quiet=true",
                f"hydra.run.dir={tmp_path / 'run'}",
            ]
        )
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = argv
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"saycan: error: {checkpoint}: non-finite weights")
    assert not (tmp_path / "run" / "trace.jsonl").exists()  # refused before any episode


def test_learned_affordance_with_inf_weights_is_refused(tmp_path):
    from safetensors.numpy import load_file, save_file

    from saycan.skills.affordances.learned import LearnedAffordance

    for name in ("panda.json", "panda.safetensors"):
        shutil.copy(ASSETS / "affordance" / name, tmp_path / name)
    weights = tmp_path / "panda.safetensors"
    tensors = load_file(str(weights))
    key = sorted(tensors)[-1]
    tensors[key] = np.full_like(tensors[key], np.inf)
    save_file(tensors, str(weights))
    with pytest.raises(
        ModelLoadError,
        match=rf"^{weights}: non-finite weights \(NaN or inf\) in "
        rf"{key}: {tensors[key].size} of {tensors[key].size}",
    ):
        LearnedAffordance(checkpoint=tmp_path / "panda.json")


def test_planner_adapter_with_nan_weights_is_refused_before_merging(tmp_path):
    from safetensors.torch import load_file, save_file

    from saycan.planner.scorers.adapters import WEIGHTS_FILE, resolve_adapter

    adapter_dir = tmp_path / "smollm2_planner"
    shutil.copytree(ASSETS / "planner" / "smollm2_planner", adapter_dir)
    weights = adapter_dir / WEIGHTS_FILE
    tensors = load_file(str(weights))
    key = sorted(tensors)[0]
    tensors[key] = tensors[key].clone()
    tensors[key].view(-1)[0] = float("nan")
    save_file(tensors, str(weights))
    adapter = resolve_adapter(adapter_dir)
    base = adapter.meta["base"]
    with pytest.raises(
        ModelLoadError,
        match=rf"^{weights}: non-finite weights \(NaN or inf\) in "
        rf"{key}: 1 of",
    ):
        adapter.merge_into(None, base["model"], base["gguf_file"])  # no model is touched


@pytest.mark.parametrize("kind", ["causal_lm", "embedder"])
def test_transformers_models_with_nan_weights_are_refused(tmp_path, kind):
    import torch
    from transformers import BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    if kind == "causal_lm":
        net = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=64,
                hidden_size=16,
                intermediate_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                num_key_value_heads=2,
            )
        )
    else:
        net = BertModel(
            BertConfig(
                vocab_size=64,
                hidden_size=16,
                intermediate_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
            )
        )
    name, param = next(
        (n, p) for n, p in net.named_parameters() if "layers.0" in n or "layer.0" in n
    )
    with torch.no_grad():
        param.view(-1)[0] = float("nan")
    net.save_pretrained(tmp_path)
    _save_tokenizer(tmp_path)
    if kind == "causal_lm":
        from saycan.planner.scorers.models import load_model

        with pytest.raises(ModelLoadError, match=rf"^{tmp_path}: non-finite weights .* in {name}"):
            load_model(str(tmp_path))
    else:
        from saycan.planner.embedding import SentenceEmbedder

        embedder = SentenceEmbedder(model=str(tmp_path))
        with pytest.raises(ModelLoadError, match=rf"^{tmp_path}: non-finite weights .* in {name}"):
            embedder.encode(["a red block"])
        with pytest.raises(ModelLoadError):  # and it stays refused: nothing half-loaded is kept
            embedder.encode(["a red block"])


def _save_tokenizer(directory: Path) -> None:
    """A word-level tokenizer built here (no download) so that the model directory loads."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[UNK]", "[PAD]", "[CLS]", "[SEP]", "a", "red", "block"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
    ).save_pretrained(directory)


def _size(path: Path, key: str) -> int:
    from safetensors.numpy import load_file

    return int(load_file(str(path))[key].size)


def test_the_weights_fingerprint_tells_apart_any_change_of_numbers_names_or_types():
    import torch

    from saycan.weights import weights_fingerprint

    base = {"b": torch.arange(6, dtype=torch.float32).reshape(2, 3), "a": torch.ones(4)}
    same = {"a": torch.ones(4), "b": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    assert weights_fingerprint(base) == weights_fingerprint(same)  # order of the mapping aside
    nudged = {**base, "a": torch.ones(4).index_put_((torch.tensor([3]),), torch.tensor(1.0001))}
    renamed = {"c": base["b"], "a": base["a"]}
    reshaped = {**base, "b": base["b"].reshape(3, 2)}
    retyped = {**base, "a": torch.ones(4, dtype=torch.bfloat16)}
    others = [weights_fingerprint(w) for w in (nudged, renamed, reshaped, retyped)]
    assert len({weights_fingerprint(base), *others}) == 5
    # an output projection tied to the embedding is another model than an equal untied copy
    tied = {"embed": base["b"], "head": base["b"]}
    untied = {"embed": base["b"], "head": base["b"].clone()}
    assert weights_fingerprint(tied) != weights_fingerprint(untied)
    assert weights_fingerprint(tied) == weights_fingerprint({"head": base["b"], "embed": base["b"]})

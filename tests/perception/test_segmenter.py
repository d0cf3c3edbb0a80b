"""perception=segmenter: the shipped checkpoint, from rendered pixels to a SceneDescription.

Scenes are rendered by the real TabletopEnv from seeds outside the checkpoint's training and
validation ranges; the segmenter never sees ground truth (the observation carries none).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from saycan.errors import ModelLoadError
from saycan.perception.evaluation import evaluate
from saycan.perception.geometry import footprint
from saycan.perception.segmenter import (
    DEFAULT_CHECKPOINT,
    SegmenterPerception,
    metadata_path,
    plausible_shape,
)
from saycan.sim.scene_spec import ObjectSpec
from saycan.train.perception_data import make_env, render_scene

#: Test scenes: far from the training, validation and benchmark seed ranges.
TEST_SEEDS = range(700000, 700004)


@pytest.fixture(scope="module")
def segmenter() -> SegmenterPerception:
    return SegmenterPerception()


@pytest.fixture(scope="module")
def env():
    e = make_env()
    yield e
    e.close()


def test_shipped_checkpoint_is_small_and_records_its_seeds(segmenter):
    size = DEFAULT_CHECKPOINT.stat().st_size + metadata_path(DEFAULT_CHECKPOINT).stat().st_size
    assert size < 10 * 2**20
    a, b = segmenter.meta["train_seeds"]
    assert not (a <= TEST_SEEDS.start < b) and segmenter.meta["val_seeds"][1] <= TEST_SEEDS.start


def test_shipped_checkpoint_meets_a_floor_on_rendered_scenes(segmenter, env):
    scenes = [render_scene(env, s) for s in TEST_SEEDS]
    m = evaluate(segmenter, scenes, uses_ground_truth=False)
    assert m["objects"] >= 8
    assert m["f1"] >= 0.85, m
    assert m["attribute_accuracy"] >= 0.9, m
    assert m["mean_position_error_m"] <= 0.015, m


def _flat_patch(w: float, h: float, yaw: float, z: float = 0.04) -> np.ndarray:
    """Points (N, 3) of a flat w x h rectangle rotated by yaw, sampled every 2 mm."""
    u, v = np.meshgrid(
        np.arange(-w / 2, w / 2 + 1e-9, 0.002), np.arange(-h / 2, h / 2 + 1e-9, 0.002)
    )
    c, s = np.cos(yaw), np.sin(yaw)
    xy = np.stack([u.ravel() * c - v.ravel() * s, u.ravel() * s + v.ravel() * c], axis=1) + [
        0.5,
        0.1,
    ]
    return np.column_stack([xy, np.full(len(xy), z)])


def test_footprint_measures_a_rotated_square():
    long_side, short_side, area = footprint(_flat_patch(0.04, 0.04, np.radians(30))[:, :2])
    assert long_side == pytest.approx(0.04, abs=0.002) and short_side == pytest.approx(
        0.04, abs=0.002
    )
    assert area == pytest.approx(0.0016, rel=0.05)
    assert footprint(np.zeros((2, 2))) == (0.0, 0.0, 0.0)  # degenerate: no area, no error


def test_block_shape_check_rejects_long_or_large_tops():
    assert plausible_shape(_flat_patch(0.04, 0.04, np.radians(45)), "block")  # a block at any yaw
    assert plausible_shape(_flat_patch(0.04, 0.02, 0.3), "block")  # half hidden: still a block
    assert not plausible_shape(_flat_patch(0.055, 0.025, np.radians(40)), "block")  # too long
    assert not plausible_shape(_flat_patch(0.045, 0.045, 0.0), "block")  # too large a face


def test_unseen_distractors_are_rarely_taken_for_blocks(segmenter, env):
    # Distractor ids 600-699: never trained on, and not the benchmark's (700-999).
    scenes = [
        render_scene(env, s, distractor_prob=1.0, distractor_ids=range(600, 700))
        for s in TEST_SEEDS
    ]
    assert sum(s.distractors for s in scenes) >= 4
    m = evaluate(segmenter, scenes, uses_ground_truth=False)
    assert m["precision"] >= 0.85 and m["recall"] >= 0.85, m


def test_relations_and_rich_text_from_pixels(segmenter, env):
    env.reset(
        seed=1,
        options={
            "objects": [
                ObjectSpec("red block", "block", "red", (0.45, 0.12)),
                ObjectSpec("green bowl", "bowl", "green", (0.55, -0.1)),
                ObjectSpec("yellow block", "block", "yellow", on="green bowl"),
            ]
        },
    )
    obs = env.observation()
    obs.ground_truth = None
    scene = segmenter.perceive(obs)
    assert sorted(scene.names()) == ["green bowl", "red block", "yellow block"]
    assert scene.support_of("yellow block") == "green bowl"
    text = scene.to_text("rich")
    assert "yellow block in green bowl" in text and "holding = nothing" in text
    assert scene.to_text("saycan").startswith("objects = [")


def test_missing_checkpoint_is_a_model_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        SegmenterPerception(checkpoint=str(tmp_path / "absent.safetensors"))


def test_corrupt_checkpoint_is_a_model_load_error(tmp_path):
    bad = tmp_path / "segmenter.safetensors"
    shutil.copy(metadata_path(DEFAULT_CHECKPOINT), metadata_path(bad))
    bad.write_bytes(b"\x00\x01 not a safetensors file")
    with pytest.raises(ModelLoadError, match="corrupt or incompatible"):
        SegmenterPerception(checkpoint=str(bad))
    shutil.copy(DEFAULT_CHECKPOINT, bad)
    metadata_path(bad).write_text("{not json")
    with pytest.raises(ModelLoadError, match="unusable"):
        SegmenterPerception(checkpoint=str(bad))


def test_cli_reports_a_missing_checkpoint_in_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "perception=segmenter",
            f"perception.checkpoint={tmp_path}/absent.safetensors",
            "video=false",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("saycan: error: segmenter checkpoint file not found")
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_train_perception_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "seg.safetensors"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "train",
            "perception",
            "train_scenes=6",
            "val_scenes=2",
            "steps=4",
            "log_every=2",
            f"output={out}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["checkpoint_bytes"] < 10 * 2**20 and result["train_scenes"] == 6
    assert result["validation"]["scenes"] == 2
    seg = SegmenterPerception(checkpoint=str(out))
    assert seg.meta["train_seeds"] == result["train_seeds"]


@pytest.mark.slow
def test_train_refuses_overlapping_seed_ranges(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "train",
            "perception",
            "val_seed_start=400010",
            f"output={tmp_path}/x.safetensors",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "overlap" in proc.stderr


@pytest.mark.slow
def test_bench_perception_prints_figures_per_backend(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "saycan.cli", "bench", "perception", "scenes=3"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    for backend in ("oracle", "segmenter"):
        for key in (
            "scenes",
            "precision",
            "recall",
            "f1",
            "attribute_accuracy",
            "mean_position_error_m",
        ):
            assert key in result[backend] and key in result[backend]["distractors"]
    assert result["oracle"]["f1"] == 1.0
    assert (
        result["open_vocab"]["run"] is False
        and "could not be loaded" in result["open_vocab"]["reason"]
    )


@pytest.mark.slow
def test_run_with_segmenter_perception_succeeds(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "perception=segmenter",
            "task=put_block_in_bowl",
            "seed=0",
            "video=false",
            f"hydra.run.dir={tmp_path}/run",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["success"] is True

"""`saycan train perception`: render scenes, train the segmenter on CPU, write the checkpoint.

Training and validation scenes come from disjoint seed ranges (checked); the ranges are written
into the checkpoint's metadata so the benchmark can refuse to evaluate on training scenes.
Training uses random crops of the half-resolution input; the loss is taken at full resolution
on the upsampled logits, exactly as inference reads them. Distractor pixels are their own
class ("other"); validation distractors come from a `random_urdfs` id range of their own
(`val_distractor_ids`), so the validation figure says how unseen shapes fare without touching
the benchmark's ids.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from safetensors.torch import save_file
from torch import nn

from saycan.errors import ConfigError
from saycan.files import atomic_path, write_atomic
from saycan.perception.segmenter import (
    CHECKPOINT_FORMAT,
    DEFAULT_CHECKPOINT,
    SegmenterPerception,
    metadata_path,
)
from saycan.perception.segmenter_net import HEIGHT_CLIP, HEIGHT_SCALE, TinyUNet, encode_input
from saycan.sim.objects_catalog import CATEGORIES, COLOUR_NAMES
from saycan.train.perception_data import (
    RenderedScene,
    check_disjoint,
    make_env,
    render_scene,
    seed_range,
)


def render_set(
    cfg: DictConfig,
    seeds: range,
    distractor_prob: float,
    distractor_ids: Sequence[int] | None = None,
) -> list[RenderedScene]:
    env = make_env(int(cfg.camera_width), int(cfg.camera_height))
    ids = range(*cfg.distractor_ids) if distractor_ids is None else distractor_ids
    try:
        return [
            render_scene(
                env,
                s,
                distractor_prob=distractor_prob,
                distractor_ids=ids,
                task_fraction=float(cfg.task_fraction),
            )
            for s in seeds
        ]
    finally:
        env.close()


def _tensors(
    scenes: list[RenderedScene], downscale: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs = [encode_input(s.rgb, s.depth, s.camera, downscale)[0] for s in scenes]
    d = downscale
    h, w = xs[0].shape[1] * d, xs[0].shape[2] * d
    cat = np.stack([s.category[:h, :w] for s in scenes]).astype(np.int8)
    col = np.stack([s.colour[:h, :w] for s in scenes]).astype(np.int8)
    return np.stack(xs).astype(np.float16), cat, col


def _training_tensors(
    cfg: DictConfig, seeds: range, d: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render (or, with `cache_dir`, reload) the training set; the cache key is every setting
    that changes the rendered data."""
    key = (
        f"perception_{seeds.start}_{len(seeds)}_{cfg.distractor_prob}_{cfg.distractor_ids[0]}_"
        f"{cfg.distractor_ids[1]}_{cfg.task_fraction}_{cfg.camera_width}x{cfg.camera_height}_d{d}_h{HEIGHT_SCALE:g}_other.npz"
    )
    path = Path(cfg.cache_dir) / key if cfg.cache_dir else None
    if path is not None and path.is_file():
        with np.load(path) as f:
            return f["X"], f["C"], f["K"]
    X, C, K = _tensors(render_set(cfg, seeds, float(cfg.distractor_prob)), d)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, X=X, C=C, K=K)
    return X, C, K


def _batch(
    rng: np.random.Generator,
    X: np.ndarray,
    C: np.ndarray,
    K: np.ndarray,
    batch: int,
    crop: int,
    d: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n, _, h, w = X.shape
    xb, cb, kb = [], [], []
    for i in rng.integers(n, size=batch):
        raised = np.argwhere(
            X[i, 3] > 0.01 * HEIGHT_SCALE
        )  # pixels above the table: objects, distractors, arm
        if len(raised) and rng.random() < 0.7:  # most crops centred on something, not bare table
            cy, cx = raised[int(rng.integers(len(raised)))]
            y0 = int(np.clip(cy - crop // 2 + rng.integers(-crop // 4, crop // 4 + 1), 0, h - crop))
            x0 = int(np.clip(cx - crop // 2 + rng.integers(-crop // 4, crop // 4 + 1), 0, w - crop))
        else:
            y0, x0 = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
        x = X[i, :, y0 : y0 + crop, x0 : x0 + crop]
        c = C[i, d * y0 : d * (y0 + crop), d * x0 : d * (x0 + crop)]
        k = K[i, d * y0 : d * (y0 + crop), d * x0 : d * (x0 + crop)]
        if rng.random() < 0.5:  # a mirrored tabletop is still a tabletop
            x, c, k = x[:, :, ::-1], c[:, ::-1], k[:, ::-1]
        if rng.random() < 0.5:
            x, c, k = x[:, ::-1], c[::-1], k[::-1]
        xb.append(np.ascontiguousarray(x))
        cb.append(np.ascontiguousarray(c))
        kb.append(np.ascontiguousarray(k))
    return (
        torch.from_numpy(np.stack(xb).astype(np.float32)),
        torch.from_numpy(np.stack(cb).astype(np.int64)),
        torch.from_numpy(np.stack(kb).astype(np.int64)),
    )


def _loss(
    model: TinyUNet, x: torch.Tensor, cat: torch.Tensor, col: torch.Tensor, weight: torch.Tensor
):
    cat_logits, col_logits = model(x)
    size = cat.shape[-2:]
    up = lambda t: nn.functional.interpolate(t, size=size, mode="bilinear", align_corners=False)  # noqa: E731
    return nn.functional.cross_entropy(
        up(cat_logits), cat, weight=weight
    ) + nn.functional.cross_entropy(up(col_logits), col, ignore_index=-1)


def train_perception(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Render, train, save (safetensors + JSON), validate the saved checkpoint on held-out
    scenes."""
    from saycan.perception.evaluation import evaluate

    t_start = time.perf_counter()
    train_seeds = seed_range(cfg.train_seed_start, cfg.train_scenes)
    val_seeds = seed_range(cfg.val_seed_start, cfg.val_scenes)
    bench_seeds = seed_range(cfg.bench_seed_start, cfg.bench_seed_count)
    try:
        check_disjoint(train=train_seeds, validation=val_seeds, benchmark=bench_seeds)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    lo, hi = (int(v) for v in cfg.distractor_ids)
    vlo, vhi = (int(v) for v in cfg.val_distractor_ids)
    for name, (a, b) in {"distractor_ids": (lo, hi), "val_distractor_ids": (vlo, vhi)}.items():
        if not 0 <= a < b <= 1000:
            raise ConfigError(f"{name} must be a range inside [0, 1000), got {[a, b]}")
    if lo < vhi and vlo < hi:
        raise ConfigError(f"val_distractor_ids {[vlo, vhi]} overlap distractor_ids {[lo, hi]}")
    torch.manual_seed(int(cfg.seed))
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    rng = np.random.default_rng(int(cfg.seed))
    d = int(cfg.downscale)

    t0 = time.perf_counter()
    X, C, K = _training_tensors(cfg, train_seeds, d)
    val = render_set(cfg, val_seeds, 0.0)
    val_distractors = render_set(cfg, val_seeds, 1.0, range(vlo, vhi))
    render_s = time.perf_counter() - t0
    print(f"{len(X)} training + {len(val)} validation scenes ready in {render_s:.0f} s", flush=True)

    model = TinyUNet(
        in_channels=X.shape[1],
        widths=list(cfg.widths),
        n_categories=2 + len(CATEGORIES),
        n_colours=len(COLOUR_NAMES),
    )
    opt = torch.optim.AdamW(model.parameters(), lr=float(cfg.lr), weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=float(cfg.lr), total_steps=int(cfg.steps), pct_start=0.15
    )
    weight = torch.tensor([float(w) for w in cfg.category_weights])
    if len(weight) != 2 + len(CATEGORIES):
        raise ConfigError(
            f"category_weights needs {2 + len(CATEGORIES)} values (background, "
            f"{', '.join(CATEGORIES)}, other)"
        )
    t0 = time.perf_counter()
    model.train()
    losses = []
    for step in range(int(cfg.steps)):
        x, c, k = _batch(rng, X, C, K, int(cfg.batch), int(cfg.crop), d)
        loss = _loss(model, x, c, k, weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if (step + 1) % int(cfg.log_every) == 0:
            print(
                f"step {step + 1}/{cfg.steps} loss {np.mean(losses[-int(cfg.log_every) :]):.4f}",
                flush=True,
            )
    train_s = time.perf_counter() - t0
    model.eval()

    out = Path(cfg.output) if cfg.output else DEFAULT_CHECKPOINT
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=out.suffix) as tmp:
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    meta = {
        "format": CHECKPOINT_FORMAT,
        "arch": {
            "name": "TinyUNet",
            "in_channels": int(X.shape[1]),
            "widths": [int(w) for w in cfg.widths],
        },
        "categories": ["background", *CATEGORIES, "other"],
        "colours": list(COLOUR_NAMES),
        "input": {
            "downscale": d,
            "channels": [
                "r/255",
                "g/255",
                "b/255",
                f"clip(height_m, {HEIGHT_CLIP}) * {HEIGHT_SCALE}",
            ],
            "camera": [int(cfg.camera_width), int(cfg.camera_height)],
        },
        "train_seeds": [train_seeds.start, train_seeds.stop],
        "val_seeds": [val_seeds.start, val_seeds.stop],
        "distractor_ids": [min(lo, vlo), max(hi, vhi)],  # every id seen in training or validation
        "steps": int(cfg.steps),
        "seed": int(cfg.seed),
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    write_atomic(metadata_path(out), json.dumps(meta, indent=1) + "\n")
    # Validate what was written, through the same loader `perception=segmenter` uses.
    seg = SegmenterPerception(checkpoint=str(out))
    metrics = evaluate(seg, val, uses_ground_truth=False)
    metrics["distractors"] = evaluate(seg, val_distractors, uses_ground_truth=False)
    meta["validation"] = metrics
    write_atomic(metadata_path(out), json.dumps(meta, indent=1) + "\n")
    return {
        "trainer": "perception",
        "checkpoint": str(out),
        "checkpoint_bytes": out.stat().st_size + metadata_path(out).stat().st_size,
        "parameters": meta["parameters"],
        "train_scenes": len(train_seeds),
        "val_scenes": len(val_seeds),
        "train_seeds": meta["train_seeds"],
        "val_seeds": meta["val_seeds"],
        "final_loss": round(float(np.mean(losses[-50:])), 4),
        "render_s": round(render_s, 1),
        "train_s": round(train_s, 1),
        "total_s": round(time.perf_counter() - t_start, 1),
        "validation": metrics,
        "run_dir": str(run_dir),
    }

"""`saycan train affordance`: learn P(success | scene, call) per skill family from attempts.

Data: `affordance_data` (real physics, randomised states), cached as JSONL under `data_dir`.
Model: a small MLP (torch, full-batch Adam on binary cross-entropy, fixed seed) on the
`features` of each (call, scene); then Platt scaling (a, b on the logit) fitted on logits the
scoring MLP never trained on: out-of-fold logits of every training attempt (`crossfit`, 5
folds) or a held-back share of the training seeds (`split`). Held-out seeds (disjoint,
checked) are only evaluated. The checkpoint is a JSON (features, normalisation, calibration,
provenance) plus a safetensors file of weight arrays.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from saycan.errors import ConfigError
from saycan.files import atomic_path, write_atomic
from saycan.skills.affordances.features import FEATURE_VERSION
from saycan.skills.affordances.learned import CHECKPOINT_FORMAT, LearnedAffordance
from saycan.skills.base import LearnedFeatures
from saycan.skills.types import SkillCall
from saycan.train.affordance_data import load_or_generate, scene_from_json
from saycan.train.metrics import summary

#: Floor for a feature's standard deviation (constant features in a small data set).
MIN_STD = 1e-3


def seed_splits(cfg: DictConfig) -> tuple[list[int], list[int], list[int]]:
    """(fit, calibration, held-out) seeds; held-out seeds never overlap the training ones."""
    start, n = int(cfg.seed_start), int(cfg.attempts)
    h_start, h_n = int(cfg.heldout_seed_start), int(cfg.heldout_attempts)
    if n < 2 or h_n < 0:
        raise ConfigError(f"attempts must be >= 2 (got {n}) and heldout_attempts >= 0 (got {h_n})")
    train = list(range(start, start + n))
    heldout = list(range(h_start, h_start + h_n))
    if set(train) & set(heldout) or not (start + n <= h_start or h_start + h_n <= start):
        raise ConfigError(
            f"training seeds {start}..{start + n - 1} overlap held-out seeds "
            f"{h_start}..{h_start + h_n - 1}"
        )
    rng = np.random.default_rng(int(cfg.model.seed))
    share = float(cfg.calibration_share)
    if not 0.0 < share < 1.0:
        raise ConfigError(f"calibration_share must be in (0, 1), got {share}")
    calib_mask = rng.random(n) < share
    fit = [s for s, c in zip(train, calib_mask) if not c]
    calib = [s for s, c in zip(train, calib_mask) if c]
    assert not (set(fit) | set(calib)) & set(heldout)
    return fit, calib, heldout


def design(rows: Sequence[dict[str, Any]], skill: LearnedFeatures) -> tuple[np.ndarray, np.ndarray]:
    """Feature matrix and labels of one skill family's attempts."""
    rows = [r for r in rows if "error" not in r and r["call"][0] == skill.name]
    if not rows:
        return np.zeros((0, len(skill.feature_names)), np.float32), np.zeros(0, bool)
    x = np.stack(
        [
            skill.features(
                SkillCall(r["call"][0], tuple(r["call"][1:])), scene_from_json(r["scene"])
            )
            for r in rows
        ]
    )
    return x, np.array([bool(r["success"]) for r in rows])


def fit_mlp(
    x: np.ndarray,
    y: np.ndarray,
    hidden: Sequence[int],
    epochs: int,
    lr: float,
    weight_decay: float,
    seed: int,
) -> dict[str, np.ndarray]:
    """Train the MLP; returns its arrays (normalisation + layers, numpy float32)."""
    import torch

    torch.set_num_threads(1)  # a tiny full-batch problem: threads only contend
    torch.manual_seed(seed)
    mean = x.mean(0)
    std = np.maximum(x.std(0), MIN_STD)
    xt = torch.from_numpy(((x - mean) / std).astype(np.float32))
    yt = torch.from_numpy(y.astype(np.float32))
    sizes = [x.shape[1], *[int(h) for h in hidden], 1]
    layers: list[torch.nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in range(int(epochs)):
        opt.zero_grad()
        loss = loss_fn(net(xt)[:, 0], yt)
        loss.backward()
        opt.step()
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    out = {"mean": mean.astype(np.float32), "std": std.astype(np.float32)}
    for i, m in enumerate(linears):
        out[f"w{i}"] = m.weight.detach().numpy().T.copy().astype(np.float32)
        out[f"b{i}"] = m.bias.detach().numpy().copy().astype(np.float32)
    return out


def _fit(x: np.ndarray, y: np.ndarray, m: DictConfig) -> dict[str, np.ndarray]:
    return fit_mlp(
        x, y, list(m.hidden), int(m.epochs), float(m.lr), float(m.weight_decay), int(m.seed)
    )


def _logits(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The MLP's raw logits (the same forward pass `LearnedAffordance` runs)."""
    h = (np.asarray(x, np.float32) - arrays["mean"]) / arrays["std"]
    n = sum(1 for k in arrays if k.startswith("w"))
    for i in range(n):
        h = h @ arrays[f"w{i}"] + arrays[f"b{i}"]
        if i < n - 1:
            h = np.maximum(h, 0.0)
    return h[:, 0].astype(np.float64)


def _out_of_fold_logits(
    x: np.ndarray, y: np.ndarray, m: DictConfig, folds: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cross-fitting: each attempt's logit from an MLP trained on the other folds (so every
    training attempt also serves calibration, as a held-back split would with fewer of them)."""
    folds = max(2, min(int(folds), len(y)))
    assign = np.random.default_rng(int(m.seed)).permutation(len(y)) % folds
    out = np.zeros(len(y))
    for k in range(folds):
        test = assign == k
        train = ~test
        if y[train].all() or not y[train].any():
            out[test] = 0.0
            continue
        out[test] = _logits(_fit(x[train], y[train], m), x[test])
    return out, y


def fit_platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: a, b minimising the log loss of sigmoid(a * logit + b) (Platt's smoothed
    targets keep a separable calibration set from driving a to infinity)."""
    from scipy.optimize import minimize

    n1, n0 = int(y.sum()), int((~y).sum())
    t = np.where(y, (n1 + 1) / (n1 + 2), 1 / (n0 + 2))

    def loss(ab: np.ndarray) -> float:
        z = ab[0] * logits + ab[1]
        return float(np.mean(np.logaddexp(0.0, z) - t * z))

    res = minimize(loss, np.array([1.0, 0.0]), method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def train_affordance(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    fit_seeds, calib_seeds, heldout_seeds = seed_splits(cfg)
    data_dir = Path(cfg.data_dir) if cfg.get("data_dir") else run_dir
    workers = max(1, int(cfg.get("workers", 1) or 1))
    train_rows = load_or_generate(
        data_dir / "train.jsonl", cfg, sorted(fit_seeds + calib_seeds), workers
    )
    heldout_rows = (
        load_or_generate(data_dir / "heldout.jsonl", cfg, heldout_seeds, workers)
        if heldout_seeds
        else []
    )
    gen_s = time.perf_counter() - t0
    by_seed = {r["seed"]: r for r in train_rows}
    fit_rows = [by_seed[s] for s in fit_seeds]
    calib_rows = [by_seed[s] for s in calib_seeds]
    library = instantiate(cfg.skills)
    learned = library.learned()

    m = cfg.model
    mode = str(cfg.get("calibration", "crossfit"))
    if mode not in ("crossfit", "split"):
        raise ConfigError(f"calibration must be 'crossfit' or 'split', got {mode!r}")
    tensors: dict[str, np.ndarray] = {}
    families: dict[str, Any] = {}
    report: dict[str, Any] = {}
    for family, skill in learned.items():
        if mode == "crossfit":  # every training attempt: out-of-fold logits calibrate
            x, y = design(train_rows, skill)
        else:
            x, y = design(fit_rows, skill)
        if len(y) < 2 or y.all() or not y.any():
            raise ConfigError(
                f"too few {family} attempts with both outcomes to train on ({len(y)}); raise "
                "attempts"
            )
        arrays = _fit(x, y, m)
        for k, v in arrays.items():
            tensors[f"{family}.{k}"] = v
        families[family] = {
            "features": list(skill.feature_names),
            "layers": len(m.hidden) + 1,
            "platt": [1.0, 0.0],
        }
        if mode == "crossfit":
            raw, yc = _out_of_fold_logits(x, y, m, int(cfg.get("calibration_folds", 5)))
        else:
            xc, yc = design(calib_rows, skill)
            raw = _logits(arrays, xc)
        if len(yc) >= 2 and yc.any() and not yc.all():
            families[family]["platt"] = list(fit_platt(raw, yc))
            # Validation AUC: logits of attempts the scoring MLP never trained on.
            report[family] = {"validation_auc": summary(raw, yc)["auc"]}
        families[family].update(
            n_fit=int(len(y)),
            n_calibration=int(len(yc)),
            calibration=mode,
            fit_success_rate=round(float(y.mean()), 4),
        )
        report.setdefault(family, {}).update(n_fit=int(len(y)), n_calibration=int(len(yc)))

    out_dir = Path(cfg.output) if cfg.get("output") else run_dir / "checkpoint"
    out_dir.mkdir(parents=True, exist_ok=True)
    robot_cfg = cfg.robot
    robot = str(robot_cfg.get("robot") or robot_cfg.get("_target_"))
    meta = {
        "format": CHECKPOINT_FORMAT,
        "feature_version": FEATURE_VERSION,
        "weights": f"{robot}.safetensors",
        "robot": robot,
        "families": families,
        "training": {
            "attempts": len(train_rows),
            "errors": sum("error" in r for r in train_rows),
            "seeds": [int(cfg.seed_start), int(cfg.seed_start) + int(cfg.attempts) - 1],
            "heldout_seeds": [heldout_seeds[0], heldout_seeds[-1]] if heldout_seeds else None,
            "model": OmegaConf.to_container(m, resolve=True),
            "command": "saycan train affordance",
        },
    }
    from safetensors.numpy import save_file

    weights = {k: np.ascontiguousarray(v) for k, v in sorted(tensors.items())}
    with atomic_path(out_dir / meta["weights"], suffix=".safetensors") as tmp:
        save_file(weights, str(tmp))
    json_path = out_dir / f"{robot}.json"
    write_atomic(json_path, json.dumps(meta, indent=2) + "\n")
    # Held-out figures go in the checkpoint too, measured with the checkpoint as loaded.
    model = LearnedAffordance(json_path, skills=library)
    heldout = evaluate(model, heldout_rows, tuple(learned))
    meta["heldout"] = heldout
    write_atomic(json_path, json.dumps(meta, indent=2) + "\n")
    return {
        "checkpoint": str(json_path),
        "weights_bytes": (out_dir / meta["weights"]).stat().st_size,
        "data_dir": str(data_dir),
        "train_attempts": len(train_rows),
        "fit": report,
        "platt": {f: families[f]["platt"] for f in families},
        "heldout": heldout,
        "generate_s": round(gen_s, 1),
        "total_s": round(time.perf_counter() - t0, 1),
    }


def evaluate(model: Any, rows: Sequence[dict[str, Any]], families: Sequence[str]) -> dict[str, Any]:
    """Metrics of `model.value` on attempts: all families together and each one."""
    rows = [r for r in rows if "error" not in r]
    p, y, fam = [], [], []
    for r in rows:
        call = SkillCall(r["call"][0], tuple(r["call"][1:]))
        p.append(model.value(call, scene_from_json(r["scene"])))
        y.append(bool(r["success"]))
        fam.append(call.skill)
    p_arr, y_arr, fam_arr = np.array(p, float), np.array(y, bool), np.array(fam)
    out = summary(p_arr, y_arr) if rows else {"n": 0}
    out["families"] = {
        f: summary(p_arr[fam_arr == f], y_arr[fam_arr == f])
        for f in families
        if (fam_arr == f).any()
    }
    return out

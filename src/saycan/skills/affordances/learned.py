"""Learned affordance value functions: P(skill call succeeds | scene), one small MLP per skill
family, trained on skill attempts under real physics (`saycan train affordance`) and calibrated.

The checkpoint is a JSON file (feature names, normalisation, layer names, calibration, training
provenance) next to a safetensors file of plain weight arrays: nothing executable is loaded.
The forward pass is a few numpy matrix products, so no torch import at decision time and a
whole decision's candidates are scored in one batch (`values`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from saycan.errors import ConfigError, ModelLoadError
from saycan.perception.scene import SceneDescription
from saycan.skills.affordances.features import FEATURE_VERSION
from saycan.skills.base import SkillLibrary, default_library
from saycan.skills.done import DONE
from saycan.skills.types import SkillCall
from saycan.weights import check_finite

#: The checkpoint shipped in the package (trained for the Franka Panda at the origin).
PACKAGED_CHECKPOINT = "assets/affordance/panda.json"
CHECKPOINT_FORMAT = "saycan-affordance-mlp/1"


class FamilyModel:
    """One skill family's MLP (ReLU hidden layers, one logit) plus Platt calibration."""

    def __init__(
        self,
        name: str,
        meta: dict[str, Any],
        tensors: dict[str, np.ndarray],
        layout: tuple[str, ...] | None,
    ):
        self.name = name
        self.feature_names = tuple(meta["features"])
        if self.feature_names != layout:
            raise ValueError(f"{name}: the checkpoint's features differ from the skill's layout")
        self.mean = _get(tensors, f"{name}.mean")
        self.std = _get(tensors, f"{name}.std")
        self.layers = [
            (_get(tensors, f"{name}.w{i}"), _get(tensors, f"{name}.b{i}"))
            for i in range(int(meta["layers"]))
        ]
        self.platt_a, self.platt_b = (float(v) for v in meta["platt"])
        width = len(self.feature_names)
        for w, b in self.layers:
            if w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],):
                raise ValueError(
                    f"{name}: layer shapes {w.shape}, {b.shape} do not chain from width {width}"
                )
            width = w.shape[1]
        if (
            width != 1
            or self.mean.shape != (len(self.feature_names),)
            or self.std.shape != self.mean.shape
        ):
            raise ValueError(f"{name}: bad output width or normalisation shape")
        if not all(np.isfinite(a).all() for wb in self.layers for a in wb):
            raise ValueError(f"{name}: non-finite weights")

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Uncalibrated logits for a batch of feature rows."""
        h = (np.asarray(x, dtype=np.float32) - self.mean) / self.std
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h[:, 0].astype(np.float64)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        z = self.platt_a * self.logits(x) + self.platt_b
        return 1.0 / (1.0 + np.exp(-np.clip(z, -60.0, 60.0)))


class LearnedAffordance:
    """`affordance=learned`: calibrated success probabilities from the checkpoint's models.

    `done` gets `done_value` (it always "succeeds"); a skill without a model in the checkpoint
    gets 0 (no evidence that it can succeed), as the analytic rules do for a call they have no
    rule for. `checkpoint`: a JSON file written by `saycan train affordance` (default: the one
    shipped in the package). A missing, corrupt or incompatible checkpoint raises
    `ModelLoadError`, naming the file. `skills`: the library whose skills compute the features
    (the runtime passes the configured one; default: every packaged skill); a model whose skill
    the library lacks is never asked.
    """

    name = "learned"

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        motion: object | None = None,  # accepted for the common affordance signature; unused
        done_value: float = 1.0,
        robot: str | None = None,
        skills: SkillLibrary | None = None,
    ):
        self.path = (
            Path(checkpoint)
            if checkpoint
            else Path(str(resources.files("saycan").joinpath(PACKAGED_CHECKPOINT)))
        )
        self.done_value = float(done_value)
        self.skills = skills if skills is not None else default_library()
        self.meta, self.models = load_checkpoint(self.path, self.skills)
        trained_on = self.meta.get("robot")
        if robot is not None and trained_on is not None and robot != trained_on:
            # Reach and clearance features are relative to the arm it was trained on: values
            # for another arm would be silently wrong.
            raise ConfigError(
                f"affordance=learned: {self.path.name} was trained on robot={trained_on}, not "
                f"robot={robot}; train one with `saycan train affordance robot={robot}` or use "
                "affordance=analytic"
            )

    def value(self, call: SkillCall, scene: SceneDescription) -> float:
        return float(self.values([call], scene)[0])

    def values(self, calls: Sequence[SkillCall], scene: SceneDescription) -> np.ndarray:
        """P(success) for every call in one batch per skill family."""
        out = np.zeros(len(calls), dtype=np.float64)
        rows: dict[str, list[int]] = {}
        learned = self.skills.learned()
        for i, call in enumerate(calls):
            if call == DONE:
                out[i] = self.done_value
            elif call.skill in self.models and call.skill in learned:
                rows.setdefault(call.skill, []).append(i)
        for family, idx in rows.items():
            x = np.stack([learned[family].features(calls[i], scene) for i in idx])
            out[idx] = self.models[family].probabilities(x)
        return out


def load_checkpoint(
    path: Path, skills: SkillLibrary | None = None
) -> tuple[dict[str, Any], dict[str, FamilyModel]]:
    """Read and validate a checkpoint (JSON + the safetensors file it names) against the
    feature layouts of `skills` (default: every packaged skill)."""
    learned = (skills if skills is not None else default_library()).learned()
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(
            f"affordance checkpoint {path} does not exist (train one with `saycan train "
            "affordance`)"
        )
    try:
        meta = json.loads(path.read_text())
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT!r}")
        if int(meta.get("feature_version", -1)) != FEATURE_VERSION:
            raise ValueError(
                f"feature version {meta.get('feature_version')}, this code computes "
                f"{FEATURE_VERSION}"
            )
        weights = path.parent / str(meta["weights"])
        if not weights.is_file():
            raise ValueError(f"its weights file {weights} does not exist")
        from safetensors.numpy import load_file

        tensors = load_file(str(weights))
        check_finite(tensors, weights)
        # A model whose skill the library lacks is never asked: not loaded.
        models = {
            name: FamilyModel(name, fam, tensors, learned[name].feature_names)
            for name, fam in meta["families"].items()
            if name in learned
        }
    except ModelLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure means the same thing to the user
        raise ModelLoadError(
            f"affordance checkpoint {path} is corrupt or incompatible: {type(exc).__name__}: {exc}"
        ) from None
    if not models:
        raise ModelLoadError(
            f"affordance checkpoint {path} has no models for the skills {sorted(learned)}"
        )
    return meta, models


def _get(tensors: dict[str, np.ndarray], key: str) -> np.ndarray:
    if key not in tensors:
        raise ValueError(f"tensor {key!r} missing")
    with np.errstate(over="ignore"):
        value = np.asarray(tensors[key], dtype=np.float32)
    if not np.all(np.isfinite(value)):  # a float64 1e300 passes the file's check, then is inf
        raise ValueError(f"tensor {key!r} is not finite as float32 (NaN, inf or too large)")
    return value

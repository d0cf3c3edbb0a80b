"""The state of a training run at a step boundary, written whole and read back only by the same
training, so that a killed run goes on where its last checkpoint left it.

Why: the planner adapter trains for over an hour on 2 cores (Gemma-3 at the full recipe for
about five), longer than a machine, a job slot or a session may last. With this state the same
command in the same run directory resumes, and it ends with the adapter that an uninterrupted
run writes: the same weights, optimiser moments, schedule position and random streams (bit for
bit on the CPU; a sitting on another device or thread count, neither of which is part of the
digest, may differ in the last bits, so each sitting's device and threads are recorded).

What makes two runs "the same training" is a digest of everything that changes the numbers
(the decisions, the base model's weights, the adapter's shape or initial adapter, the optimiser
settings); a state written for another digest is refused, never silently continued or
overwritten.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from saycan.errors import ConfigError
from saycan.files import write_atomic

#: The file in the run directory.
STATE_FILE = "train_state.pt"


@dataclass
class TrainState:
    """Everything the training loop carries from one step to the next."""

    step: int  # steps done
    epoch_rng: dict[str, Any]  # numpy generator state at the start of the epoch of `step`
    tokens: int
    seconds: float  # training seconds of every sitting so far
    losses: list[float]
    hits: list[int]
    trainable: dict[str, Any]  # parameter name -> tensor, the trainable ones only
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    torch_rng: Any  # the CPU generator's state: dropout on the CPU draws from it
    # the accelerator's generator (dropout on a GPU draws from it); None when training on the CPU
    device_rng: Any = None
    # one record per sitting so far: {"steps": [from, to], "seconds", "threads", "device"}.
    # Threads and device are not part of the digest (a run may go on elsewhere), so the record
    # says where each stretch of steps ran.
    sittings: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SavedState:
    """A state read back, with the digest of the training that wrote it."""

    path: Path
    digest: str
    state: TrainState

    def check(self, digest: str) -> TrainState:
        """The state, if this training wrote it; a `ConfigError` naming the file otherwise."""
        if self.digest != digest:
            raise ConfigError(
                f"{self.path} holds the state of other training (other data, base-model "
                "weights, adapter or optimiser settings): use another hydra.run.dir, or "
                "delete it to train from the start"
            )
        return self.state


def json_digest(value: Any) -> str:
    """sha256 of `value` as canonical JSON (sorted keys; what JSON cannot hold, as text)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def training_digest(examples: Sequence[Any], settings: Mapping[str, Any]) -> str:
    """A digest of what decides the trained numbers: the decisions and the `settings` (base
    model, adapter shape or initial adapter, optimiser), not threads or logging."""
    return json_digest([list(examples), settings])


def save_state(path: Path, digest: str, state: TrainState) -> None:
    """Write the state whole, behind a checksum of its bytes (a kill mid-write leaves the
    previous checkpoint; a damaged file is refused, not resumed from)."""
    import torch

    buffer = io.BytesIO()
    torch.save(
        {
            "digest": digest,
            "step": state.step,
            "epoch_rng": json.dumps(state.epoch_rng),  # 128-bit integers: text, not tensors
            "tokens": state.tokens,
            "seconds": state.seconds,
            "losses": state.losses,
            "hits": state.hits,
            "trainable": state.trainable,
            "optimizer": state.optimizer,
            "scheduler": state.scheduler,
            "torch_rng": state.torch_rng,
            "device_rng": state.device_rng,
            "sittings": json.dumps(state.sittings),
        },
        buffer,
    )
    payload = buffer.getvalue()
    write_atomic(path, hashlib.sha256(payload).hexdigest().encode("ascii") + b"\n" + payload)


def read_state(path: Path) -> SavedState | None:
    """The state at `path`, None if there is none; a file that is not one whole (damaged,
    truncated, another format) is a `ConfigError` naming it. Read before any data or model, so
    a bad file costs a second, not the data and the lower layers' pass."""
    import torch

    if not path.exists():
        return None

    def unreadable(why: str) -> ConfigError:
        return ConfigError(
            f"{path} is not a readable training state ({why}); delete it to train from the start"
        )

    try:
        checksum, payload = path.read_bytes().split(b"\n", 1)
    except (OSError, ValueError) as exc:
        raise unreadable(type(exc).__name__) from None
    if hashlib.sha256(payload).hexdigest().encode("ascii") != checksum:
        raise unreadable("its checksum does not match its contents")
    try:
        raw = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
        return SavedState(
            path=path,
            digest=str(raw["digest"]),
            state=TrainState(
                step=int(raw["step"]),
                epoch_rng=json.loads(raw["epoch_rng"]),
                tokens=int(raw["tokens"]),
                seconds=float(raw["seconds"]),
                losses=list(raw["losses"]),
                hits=list(raw["hits"]),
                trainable=dict(raw["trainable"]),
                optimizer=dict(raw["optimizer"]),
                scheduler=dict(raw["scheduler"]),
                torch_rng=raw["torch_rng"],
                device_rng=raw.get("device_rng"),
                sittings=json.loads(raw.get("sittings", "[]")),
            ),
        )
    except Exception as exc:  # torch and a hand-made file raise many kinds
        raise unreadable(type(exc).__name__) from None


#: The lower layers' outputs, beside the state, when `optim.save_lower_pass` is on.
LOWER_PASS_FILE = "lower_layers.safetensors"


def save_lower_pass(path: Path, digest: str, first: int, hidden: Sequence[Any]) -> str | None:
    """The lower layers' output for every decision, so a later sitting of the same training
    reads them (seconds) instead of running them again (minutes). Written whole or not at all,
    behind a digest of its tensors; its metadata names the training (`digest`) and the layer
    the outputs feed (`first`). A write that fails (a full disk) costs only the shortcut: the
    reason is returned, and training goes on."""
    from safetensors.torch import save_file

    from saycan.weights import weights_fingerprint

    tensors = {str(i): h.detach().to("cpu").contiguous() for i, h in enumerate(hidden)}
    meta = {
        "digest": digest,
        "first": str(first),
        "decisions": str(len(hidden)),
        "sha256": weights_fingerprint(tensors),
    }
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_file(tensors, str(tmp), metadata=meta)
        tmp.replace(path)
    except Exception as exc:  # noqa: BLE001 - OSError, SafetensorError: the shortcut is lost
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        return f"{type(exc).__name__}: {exc}"
    return None


def read_lower_pass(
    path: Path, digest: str, first: int, shapes: Sequence[tuple[int, ...]], dtype: Any
) -> list[Any] | None:
    """The outputs `save_lower_pass` wrote for this training, or None: no file, another
    training's, or one that is not exactly what was written (its tensors' digest, their
    `shapes` and `dtype`), which is then computed again rather than trained on."""
    from safetensors import safe_open

    from saycan.weights import weights_fingerprint

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            expected = {"digest": digest, "first": str(first), "decisions": str(len(shapes))}
            if any(meta.get(k) != v for k, v in expected.items()):
                return None
            tensors = {str(i): f.get_tensor(str(i)) for i in range(len(shapes))}
    except Exception:  # noqa: BLE001 - a damaged file of any kind is only a lost shortcut
        return None
    rows = [tensors[str(i)] for i in range(len(shapes))]
    if any(r.dtype != dtype or tuple(r.shape) != tuple(s) for r, s in zip(rows, shapes)):
        return None
    if weights_fingerprint(tensors) != meta.get("sha256"):
        return None
    return rows


def drop_lower_pass(path: Path) -> None:
    """Once the adapter is written the outputs serve no sitting: about 1 GB given back."""
    for stale in (path, path.with_name(f".{path.name}.tmp")):
        stale.unlink(missing_ok=True)

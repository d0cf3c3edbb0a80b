"""The state of a training run at a step boundary, written whole and read back only by the same
training, so that a killed run goes on where its last checkpoint left it.

Why: the planner adapter trains for over an hour on 2 cores (Gemma-3 at the full recipe for
about five), longer than a machine, a job slot or a session may last. With this state the same
command in the same run directory resumes, and it ends with the adapter that an uninterrupted
run writes: the same weights, optimiser moments, schedule position and random streams.

What makes two runs "the same training" is a digest of everything that changes the numbers
(the decisions, the base model, the adapter's shape or initial adapter, the optimiser
settings); a state written for another digest is refused, never silently continued or
overwritten.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    losses: list[float]
    hits: list[int]
    trainable: dict[str, Any]  # parameter name -> tensor, the trainable ones only
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    torch_rng: Any  # the CPU generator's state: dropout draws from it


def training_digest(examples: Sequence[Any], settings: Mapping[str, Any]) -> str:
    """A digest of what decides the trained numbers: the decisions and the `settings` (base
    model, adapter shape or initial adapter, optimiser), not threads or logging."""
    text = json.dumps([list(examples), settings], sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def save_state(path: Path, digest: str, state: TrainState) -> None:
    """Write the state whole (a kill mid-write leaves the previous checkpoint)."""
    import torch

    buffer = io.BytesIO()
    torch.save(
        {
            "digest": digest,
            "step": state.step,
            "epoch_rng": json.dumps(state.epoch_rng),  # 128-bit integers: text, not tensors
            "tokens": state.tokens,
            "losses": state.losses,
            "hits": state.hits,
            "trainable": state.trainable,
            "optimizer": state.optimizer,
            "scheduler": state.scheduler,
            "torch_rng": state.torch_rng,
        },
        buffer,
    )
    write_atomic(path, buffer.getvalue())


def load_state(path: Path, digest: str) -> TrainState | None:
    """The state at `path` if it was written by this training; None if there is none. A state
    of other training, or a file that is not one, is a `ConfigError` naming the file: the user
    chooses another run directory or deletes it, nothing is overwritten."""
    import torch

    if not path.exists():
        return None
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
        saved = raw["digest"]
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise ConfigError(
            f"{path} is not a readable training state ({type(exc).__name__}); delete it to "
            "train from the start"
        ) from None
    if saved != digest:
        raise ConfigError(
            f"{path} holds the state of other training (other data, model or optimiser "
            "settings): use another hydra.run.dir, or delete it to train from the start"
        )
    return TrainState(
        step=int(raw["step"]),
        epoch_rng=json.loads(raw["epoch_rng"]),
        tokens=int(raw["tokens"]),
        losses=list(raw["losses"]),
        hits=list(raw["hits"]),
        trainable=raw["trainable"],
        optimizer=raw["optimizer"],
        scheduler=raw["scheduler"],
        torch_rng=raw["torch_rng"],
    )

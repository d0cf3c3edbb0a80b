"""Refuse non-finite weights when a model is loaded; name a model by its numbers.

A checkpoint with NaN or inf in it loads without complaint and then quietly computes nonsense
(a segmenter that sees an empty table, affordances that are all NaN, a language model whose
every score is NaN). Every loader of a model the project ships or trains passes its tensors
here first: one `ModelLoadError` line naming the file and the first bad tensor.

A model's name (a path, a Hub id) can stay while its numbers change; `weights_fingerprint` is
the digest of the numbers, for what must know it trained on the same ones (a resumed run).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from saycan.errors import ModelLoadError


def check_finite(
    tensors: Mapping[str, Any] | Iterable[tuple[str, Any]], source: str | os.PathLike[str]
) -> None:
    """Raise `ModelLoadError` if any floating-point tensor (numpy array or torch tensor) holds
    NaN or inf. Integer tensors cannot, and are skipped."""
    items = tensors.items() if isinstance(tensors, Mapping) else tensors
    for name, value in items:
        bad, total = _count_non_finite(value)
        if bad:
            raise ModelLoadError(
                f"{os.fspath(source)}: non-finite weights (NaN or inf) in {name}: {bad} of "
                f"{total} values; the file is corrupt: restore it or train it again"
            )


def _count_non_finite(value: Any) -> tuple[int, int]:
    """(non-finite values, all values). A tensor's sum is finite when all its values are (and
    summing is ~50x faster than an elementwise isfinite over a 135M-parameter model); only a
    non-finite sum (a bad value, or a rare overflow) is counted exactly."""
    if isinstance(value, np.ndarray):
        if not np.issubdtype(value.dtype, np.floating) or np.isfinite(value.sum()):
            return 0, int(value.size)
        return int(value.size - np.count_nonzero(np.isfinite(value))), int(value.size)
    import torch  # only torch tensors get here: the caller loaded them with torch

    t = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(value)
    if not t.is_floating_point() or bool(torch.isfinite(t.sum())):
        return 0, t.numel()
    return int(t.numel() - torch.isfinite(t).sum().item()), int(t.numel())


def weights_fingerprint(tensors: Mapping[str, Any]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order.

    Why: a model named by a path or a Hub id can change under the same name (a new revision, a
    re-saved directory); what training computes depends on the numbers, so a digest of the
    numbers is what tells two bases apart. A tensor tied to another (an output projection sharing
    the embedding) is hashed once and named as tied."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    first_of: dict[tuple[Any, ...], str] = {}  # tied tensors: hashed once
    for name in sorted(tensors):
        tensor = tensors[name].detach()
        storage = (
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tensor.stride(),
            tuple(tensor.shape),
            tensor.dtype,
        )
        if storage in first_of:  # the tying itself is part of the model
            digest.update(f"{name}|same as {first_of[storage]}\n".encode())
            continue
        first_of[storage] = name
        value = tensor.to("cpu").contiguous()
        digest.update(f"{name}|{value.dtype}|{tuple(value.shape)}\n".encode())
        digest.update(memoryview(value.reshape(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()

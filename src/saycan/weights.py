"""Refuse non-finite weights when a model is loaded.

A checkpoint with NaN or inf in it loads without complaint and then quietly computes nonsense
(a segmenter that sees an empty table, affordances that are all NaN, a language model whose
every score is NaN). Every loader of a model the project ships or trains passes its tensors
here first: one `ModelLoadError` line naming the file and the first bad tensor.
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

"""How well predicted success probabilities match outcomes: AUC, ECE, Brier, accuracy."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

#: Equal-width probability bins for the expected calibration error.
ECE_BINS = 10


def auc(p: np.ndarray, y: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with tied scores averaged); None when only one
    class is present."""
    p, y = np.asarray(p, float), np.asarray(y, bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return None
    ranks = rankdata(p)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def ece(p: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the bin-size-weighted mean |mean(p) - mean(y)| over
    equal-width bins of p (a value of exactly 1 falls in the last bin)."""
    p, y = np.asarray(p, float), np.asarray(y, float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() * abs(p[m].mean() - y[m].mean())
    return float(total / max(1, len(p)))


def brier(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, float) - np.asarray(y, float)) ** 2))


def summary(p: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """`n, positives, auc, ece, brier, accuracy` (threshold 0.5), rounded for reports."""
    p, y = np.asarray(p, float), np.asarray(y, bool)
    a = auc(p, y)
    return {
        "n": int(len(y)),
        "positives": int(y.sum()),
        "auc": None if a is None else round(a, 4),
        "ece": round(ece(p, y), 4),
        "brier": round(brier(p, y), 4),
        "accuracy": round(float(np.mean((p >= 0.5) == y)), 4) if len(y) else None,
    }

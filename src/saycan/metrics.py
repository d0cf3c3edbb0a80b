"""Success rates with Wilson 95% score intervals (sound at small n and at 0% / 100%)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping

Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} outside [0, {n}]")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate(successes: int, n: int) -> dict:
    lo, hi = wilson_interval(successes, n)
    return {
        "n": n,
        "successes": successes,
        "success_rate": round(successes / n, 4) if n else None,
        "ci95": [round(lo, 4), round(hi, 4)],
    }


def summarise(records: Iterable[Mapping], by: str) -> dict[str, dict]:
    """Success rate with interval per value of `by` (e.g. "task", "family", "split")."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        groups[str(r[by])].append(bool(r["success"]))
    return {k: rate(sum(v), len(v)) for k, v in sorted(groups.items())}

"""`saycan compare A B`: does configuration B plan better than A on the same episodes?

Why paired: two runs over the same tasks and seeds differ only where the planners decided
otherwise, so counting the episodes one gained and the other lost removes the scene-to-scene
spread that two separate Wilson intervals carry.

Why clustered by task: the seeds of one instruction are not independent draws (a planner that
misreads "red at the bottom" misreads it at every seed), so the unit that varies is the task.
The test is a sign-flip permutation over tasks: under "B plans no better or worse than A", each
task's difference in successes is as likely negated. It is exact up to 2^20 sign patterns and
otherwise drawn 200,000 times from a fixed seed, so the same records give the same p-value. The
interval is a percentile bootstrap over tasks (10,000 resamples, fixed seed).

A measured example (docs/evaluation.md): two retrains of the same recipe differ on 11 of the
independent split's 44 development tasks, so a lever's gain of 6 episodes there is about one
standard deviation of what a change of planner moves at random.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from saycan.errors import SayCanError
from saycan.eval.report import load_records

#: Up to this many tasks that changed, every sign pattern is counted; beyond, a sample.
EXACT_UP_TO = 20
PERMUTATION_DRAWS = 200_000
BOOTSTRAP_DRAWS = 10_000
#: What makes two records one configuration (the report's columns, less the episode's own).
CONFIG_FIELDS = ("planner", "llm", "perception", "affordance", "executor", "variant")


class CompareError(SayCanError):
    """The two results directories cannot be compared episode by episode (one line)."""


@dataclass(frozen=True)
class Arm:
    """One results directory: its configuration and its episodes by (task, split, seed)."""

    path: Path
    config: str
    episodes: dict[tuple[str, str, int], bool]
    families: dict[str, str]  # task -> family


def load_arm(path: Path, name: str) -> Arm:
    """The records under `path`, which must hold one configuration (a sweep over several is
    compared one job directory at a time)."""
    try:
        records, _ = load_records(Path(path))
    except SayCanError as exc:
        raise CompareError(f"{name}: {exc}") from None
    configs = sorted({_config(r) for r in records})
    if len(configs) > 1:
        raise CompareError(
            f"{name} ({path}) holds {len(configs)} configurations ({'; '.join(configs[:3])}"
            f"{'; ...' if len(configs) > 3 else ''}); compare one configuration with one"
        )
    return Arm(
        path=Path(path),
        config=configs[0],
        episodes={(r["task"], r["split"], r["seed"]): r["success"] for r in records},
        families={r["task"]: r["family"] for r in records},
    )


def _config(record: Mapping[str, Any]) -> str:
    return ", ".join(f"{f}={record[f]}" for f in CONFIG_FIELDS if record.get(f))


def sign_flip_p(differences: Sequence[int], draws: int = PERMUTATION_DRAWS) -> tuple[float, str]:
    """Two-sided p-value of the summed `differences` under random signs, and how it was got
    ("exact" or "sampled"). Tasks that did not change add nothing to any pattern."""
    changed = np.array([d for d in differences if d], dtype=np.int64)
    observed = abs(int(changed.sum()))
    if changed.size == 0:
        return 1.0, "exact"
    if changed.size <= EXACT_UP_TO:
        patterns = np.arange(2**changed.size, dtype=np.int64)[:, None] >> np.arange(changed.size)
        signs = 1 - 2 * (patterns & 1)
        sums = np.abs(signs @ changed)
        return float(np.mean(sums >= observed)), "exact"
    rng = np.random.default_rng(0)
    hits = 0
    for start in range(0, draws, 20_000):
        size = min(20_000, draws - start)
        signs = rng.choice(np.array([-1, 1]), size=(size, changed.size))
        hits += int(np.sum(np.abs(signs @ changed) >= observed))
    return (hits + 1) / (draws + 1), "sampled"  # the observed pattern counts as one draw


def bootstrap_interval(
    differences: Sequence[int], draws: int = BOOTSTRAP_DRAWS
) -> tuple[float, float]:
    """95% percentile interval of the summed difference, resampling tasks."""
    values = np.asarray(differences, dtype=np.int64)
    rng = np.random.default_rng(0)
    sums = values[rng.integers(0, values.size, size=(draws, values.size))].sum(axis=1)
    low, high = np.percentile(sums, [2.5, 97.5])
    return float(low), float(high)


def compare(a: Arm, b: Arm) -> dict[str, Any]:
    """The paired comparison of `b` against `a` on the episodes both ran."""
    shared = sorted(a.episodes.keys() & b.episodes.keys())
    if not shared:
        raise CompareError(
            f"A ({a.path}) and B ({b.path}) share no episode (same task, split and seed): "
            "run both over the same tasks and seeds"
        )
    per_task: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # episodes, A, B
    gained = lost = 0
    for key in shared:
        won_a, won_b = a.episodes[key], b.episodes[key]
        row = per_task[key[0]]
        row[0] += 1
        row[1] += won_a
        row[2] += won_b
        gained += int(won_b and not won_a)
        lost += int(won_a and not won_b)
    differences = [b_wins - a_wins for _, a_wins, b_wins in per_task.values()]
    p_value, method = sign_flip_p(differences)
    low, high = bootstrap_interval(differences)
    by_family: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for task, (n, a_wins, b_wins) in per_task.items():
        family = by_family[a.families.get(task) or b.families.get(task) or "unknown"]
        family[0] += n
        family[1] += a_wins
        family[2] += b_wins
    return {
        "a": str(a.path),
        "b": str(b.path),
        "a_config": a.config,
        "b_config": b.config,
        "episodes": len(shared),
        "tasks": len(per_task),
        "a_successes": sum(r[1] for r in per_task.values()),
        "b_successes": sum(r[2] for r in per_task.values()),
        "difference": sum(differences),
        "gained": gained,
        "lost": lost,
        "tasks_changed": sum(1 for d in differences if d),
        # the spread of the summed difference if each changed task's sign were a coin toss
        "null_sd": round(math.sqrt(sum(d * d for d in differences)), 2),
        "p_value": round(p_value, 4),
        "p_method": method,
        "difference_ci95": [low, high],
        "unmatched": {
            "a": len(a.episodes) - len(shared),
            "b": len(b.episodes) - len(shared),
        },
        "per_task": {
            task: {"episodes": n, "a": a_wins, "b": b_wins}
            for task, (n, a_wins, b_wins) in sorted(per_task.items())
            if a_wins != b_wins
        },
        "per_family": {
            family: {"episodes": n, "a": a_wins, "b": b_wins}
            for family, (n, a_wins, b_wins) in sorted(by_family.items())
        },
    }


def summary_lines(result: Mapping[str, Any]) -> list[str]:
    """A short human reading of `compare`'s result (the JSON line follows it)."""
    lines = [
        f"A: {result['a_config']}",
        f"B: {result['b_config']}",
        f"{result['episodes']} shared episodes over {result['tasks']} tasks: "
        f"A {result['a_successes']}, B {result['b_successes']} "
        f"(B gained {result['gained']}, lost {result['lost']}; "
        f"{result['tasks_changed']} tasks changed)",
        f"difference {result['difference']:+d}, 95% interval "
        f"[{result['difference_ci95'][0]:+.0f}, {result['difference_ci95'][1]:+.0f}] "
        f"(bootstrap over tasks); sign-flip p = {result['p_value']} ({result['p_method']}); "
        f"null sd {result['null_sd']}",
    ]
    unmatched = result["unmatched"]
    if unmatched["a"] or unmatched["b"]:
        lines.append(
            f"left out, run by one side only: {unmatched['a']} episodes of A, {unmatched['b']} of B"
        )
    for task, row in result["per_task"].items():
        lines.append(f"  {task}: A {row['a']}/{row['episodes']}, B {row['b']}/{row['episodes']}")
    return lines

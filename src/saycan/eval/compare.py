"""`saycan compare A B`: does configuration B plan better than A on the same episodes?

Why paired: two runs over the same tasks and seeds differ only where the planners decided
otherwise, so counting the episodes one gained and the other lost removes the scene-to-scene
spread that two separate Wilson intervals carry.

Why clustered by task: the seeds of one instruction are not independent draws (a planner that
misreads "red at the bottom" misreads it at every seed), so the unit that varies is the task.
The test is a sign-flip permutation over tasks: under "B plans no better or worse than A", each
task's difference in successes is as likely negated. Its p-value is exact at any number of
tasks: the distribution of the signed sum is built up one task at a time (a convolution over
the possible sums), not sampled.

A measured example (docs/evaluation.md): two retrains of the same recipe differ by 12 episodes
each way on the independent split's 44 development tasks, so a lever's gain of 6 episodes
there is well within what a change of planner moves at random.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from saycan.errors import SayCanError
from saycan.eval.report import KEY_FIELDS, load_records

#: What makes two records one configuration: the report's episode identity, less the episode.
CONFIG_FIELDS = tuple(f for f in KEY_FIELDS if f not in ("task_arg", "seed", "split"))
#: An episode's identity across two runs: the family tells apart task files with one name.
Episode = tuple[str, str, str, int]  # family, task, split, seed


class CompareError(SayCanError):
    """The two results directories cannot be compared episode by episode (one line)."""


@dataclass(frozen=True)
class Arm:
    """One results directory: its configuration and its episodes' outcomes."""

    path: Path
    config: str
    episodes: dict[Episode, bool]
    crashed: frozenset[Episode]  # episodes whose record is an error: counted as failures
    records: dict[str, int] = field(default_factory=dict)  # load_records' counts


def load_arm(path: Path, name: str) -> Arm:
    """The records under `path`, which must hold one configuration (a sweep over several is
    compared one job directory at a time)."""
    try:
        records, counts = load_records(Path(path))
    except SayCanError as exc:
        raise CompareError(f"{name}: {exc}") from None
    except OSError as exc:  # unreadable files, a directory named results.jsonl
        raise CompareError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None
    configs = sorted({_config(r) for r in records})
    if len(configs) > 1:
        shown = "; ".join(c[:120] for c in configs[:2])
        raise CompareError(
            f"{name} ({path}) holds {len(configs)} configurations ({shown}"
            f"{'; ...' if len(configs) > 2 else ''}); compare one configuration with one"
        )
    episodes: dict[Episode, bool] = {}
    crashed: set[Episode] = set()
    for r in records:
        named = r["task_arg"] != "?" and isinstance(r.get("task"), str)
        if not named:
            raise CompareError(f"{name}: a record in {r['_source']} names no task")
        key = (r["family"], r["task"], r["split"], r["seed"])
        if key in episodes:  # two task files of one name and family (other paths)
            raise CompareError(
                f"{name}: two records for task {r['task']!r} ({r['family']}), split "
                f"{r['split']}, seed {r['seed']} from different task files; compare runs whose "
                "task names are unique"
            )
        episodes[key] = r["success"]
        if r.get("error"):
            crashed.add(key)
    return Arm(Path(path), configs[0], episodes, frozenset(crashed), counts)


def _config(record: Mapping[str, Any]) -> str:
    return ", ".join(f"{f}={record[f]}" for f in CONFIG_FIELDS if record.get(f))


def sign_flip_p(differences: Sequence[int]) -> float:
    """Two-sided p-value of the summed `differences` under independent random signs: the
    probability that |sum of +-d| reaches |sum of d|. Exact: the distribution of the signed sum
    is convolved task by task over the integers it can take."""
    changed = [abs(int(d)) for d in differences if d]
    if not changed:
        return 1.0
    observed = abs(sum(int(d) for d in differences))
    reach = sum(changed)
    probability = np.zeros(2 * reach + 1)  # index: sum + reach
    probability[reach] = 1.0
    for d in changed:
        probability = 0.5 * (np.roll(probability, d) + np.roll(probability, -d))
    sums = np.abs(np.arange(-reach, reach + 1))
    return float(min(1.0, probability[sums >= observed].sum()))


def compare(a: Arm, b: Arm) -> dict[str, Any]:
    """The paired comparison of `b` against `a` on the episodes both ran."""
    shared = sorted(a.episodes.keys() & b.episodes.keys())
    if not shared:
        raise CompareError(
            f"A ({a.path}) and B ({b.path}) share no episode (same task, split and seed): "
            "run both over the same tasks and seeds"
        )
    # per task: episodes, A's successes, B's, episodes B gained, episodes B lost
    per_task: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for key in shared:
        won_a, won_b = a.episodes[key], b.episodes[key]
        row = per_task[key[:2]]
        row[0] += 1
        row[1] += int(won_a)
        row[2] += int(won_b)
        row[3] += int(won_b and not won_a)
        row[4] += int(won_a and not won_b)
    differences = [row[2] - row[1] for row in per_task.values()]
    by_family: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (family, _), row in per_task.items():
        for i in range(3):
            by_family[family][i] += row[i]
    named = {task: (family, task) for family, task in per_task}
    ambiguous = len(named) < len(per_task)  # one task name in two families: name both

    def label(family: str, task: str) -> str:
        return f"{family}/{task}" if ambiguous else task

    return {
        "a": str(a.path),
        "b": str(b.path),
        "a_config": a.config,
        "b_config": b.config,
        "episodes": len(shared),
        "tasks": len(per_task),
        "a_successes": sum(row[1] for row in per_task.values()),
        "b_successes": sum(row[2] for row in per_task.values()),
        "difference": sum(differences),
        "gained": sum(row[3] for row in per_task.values()),
        "lost": sum(row[4] for row in per_task.values()),
        "tasks_changed": sum(1 for d in differences if d),
        # the spread of the summed difference if each task's sign were a coin toss
        "null_sd": round(math.sqrt(sum(d * d for d in differences)), 2),
        "p_value": float(f"{sign_flip_p(differences):.4g}"),
        # crashed episodes count as failures (as in `saycan report`); said, not hidden
        "crashed": {
            "a": sum(1 for k in shared if k in a.crashed),
            "b": sum(1 for k in shared if k in b.crashed),
        },
        "unmatched": {
            "a": len(a.episodes) - len(shared),
            "b": len(b.episodes) - len(shared),
        },
        "records": {"a": a.records, "b": b.records},
        # every task with an episode that went the other way, its net difference zero or not
        "per_task": {
            label(*key): {"episodes": n, "a": wins_a, "b": wins_b, "gained": up, "lost": down}
            for key, (n, wins_a, wins_b, up, down) in sorted(per_task.items())
            if up or down
        },
        "per_family": {
            family: {"episodes": n, "a": wins_a, "b": wins_b}
            for family, (n, wins_a, wins_b) in sorted(by_family.items())
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
        f"difference {result['difference']:+d}; sign-flip p = {result['p_value']} "
        f"(exact, over tasks); null sd {result['null_sd']}",
    ]
    for side in ("a", "b"):
        crashed = result["crashed"][side]
        records = result["records"][side]
        notes = [
            f"{crashed} crashed episodes (counted as failures)" if crashed else "",
            f"{records.get('bad_lines', 0)} unreadable lines" if records.get("bad_lines") else "",
            f"{records.get('duplicates', 0)} duplicates (the last kept)"
            if records.get("duplicates")
            else "",
        ]
        if any(notes):
            lines.append(f"{side.upper()}: " + ", ".join(n for n in notes if n))
    unmatched = result["unmatched"]
    if unmatched["a"] or unmatched["b"]:
        lines.append(
            f"left out, run by one side only: {unmatched['a']} episodes of A, {unmatched['b']} of B"
        )
    for task, row in result["per_task"].items():
        lines.append(
            f"  {task}: A {row['a']}/{row['episodes']}, B {row['b']}/{row['episodes']} "
            f"(+{row['gained']} -{row['lost']})"
        )
    return lines

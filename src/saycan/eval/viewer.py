"""The episode viewer: one self-contained HTML page that shows why the robot did what it did.

Per decision: the camera frame, the scene text, the prompt (collapsed), one bar chart of LLM,
affordance and combined scores over the candidates (inline SVG, the chosen call highlighted, as
in the SayCan notebook's plots), the skill result and any feedback / question / answer. Frames
and the video are embedded as base64 so the page can be mailed or attached to a paper review.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from saycan.errors import SayCanError
from saycan.files import write_atomic

TOP_K = 12  # candidates per chart; the chosen call is always shown
FRAME_MAX_WIDTH = 480  # frames wider than this are downscaled before embedding
VIDEO_EMBED_MAX_BYTES = 16 * 1024 * 1024  # larger videos are linked, not embedded
# Closed loop (docs/feedback.md): closed-loop feedback, disturbances, and the robot's questions.
INTERACTION_FIELDS = ("disturbances", "feedback", "prediction_set", "question", "answer")
COLOURS = {"llm": "#4c6ef5", "affordance": "#2f9e44", "combined": "#e8590c"}


class ViewerError(SayCanError):
    """The episode directory has no trace to show."""


# --------------------------------------------------------------------------- scores


def _softmax(values: Sequence[float | None]) -> list[float]:
    """Normalised over the finite entries (null/-inf get 0): log-probs and log-products become
    shares that can be drawn as bars, as in the SayCan notebook."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return [0.0 for _ in values]
    top = max(finite)
    weights = [math.exp(v - top) if v is not None and math.isfinite(v) else 0.0 for v in values]
    total = sum(weights)
    return [w / total for w in weights]


def chart_rows(step: Mapping[str, Any], top_k: int = TOP_K) -> list[dict]:
    """The candidates to draw, best combined first: top-K plus the chosen call."""
    cands = list(step.get("candidates", []))
    llm = _softmax([c.get("llm_logprob") for c in cands])
    combined = _softmax([c.get("combined") for c in cands])
    rows = [
        {
            "call": c["call"],
            "chosen": c["call"] == step.get("chosen"),
            "llm_logprob": c.get("llm_logprob"),
            "llm": llm[i] if c.get("llm_logprob") is not None else None,
            "affordance": float(c.get("affordance") or 0.0),
            "combined_raw": c.get("combined"),
            "combined": combined[i],
        }
        for i, c in enumerate(cands)
    ]
    order = sorted(
        range(len(rows)), key=lambda i: (-rows[i]["combined"], -(rows[i]["llm"] or 0.0), i)
    )
    keep = order[:top_k]
    keep += [i for i in order[top_k:] if rows[i]["chosen"]]
    return [rows[i] for i in keep]


def decision_chart(step: Mapping[str, Any], top_k: int = TOP_K) -> str:
    """One SVG per decision: a row per candidate with three bars (LLM share, affordance value,
    combined share), the chosen row highlighted."""
    rows = chart_rows(step, top_k)
    label_w, bar_w, gap, row_h, head = 370, 150, 44, 22, 34
    width = label_w + 3 * (bar_w + gap)
    height = head + row_h * max(len(rows), 1) + 10
    out = [
        f'<svg class="decision-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="scores of step {escape(str(step.get("step", "?")))}">'
    ]
    titles = (
        ("llm", "LLM p (normalised)"),
        ("affordance", "affordance"),
        ("combined", "combined (normalised)"),
    )
    for k, (_key, title) in enumerate(titles):
        x = label_w + k * (bar_w + gap)
        out.append(f'<text x="{x}" y="14" class="axis">{escape(title)}</text>')
        out.append(f'<line x1="{x}" y1="{head - 6}" x2="{x}" y2="{height - 6}" class="zero"/>')
    if not rows:
        out.append(f'<text x="4" y="{head + 14}">no candidates</text>')
    for i, row in enumerate(rows):
        y = head + i * row_h
        if row["chosen"]:
            out.append(
                f'<rect x="0" y="{y - 2}" width="{width}" height="{row_h}" class="chosen-row"/>'
            )
        mark = "▶ " if row["chosen"] else ""
        call = row["call"] if len(row["call"]) <= 52 else row["call"][:51] + "…"
        out.append(
            f'<text x="4" y="{y + 13}" class="call"><title>{escape(row["call"])}</title>'
            f"{escape(mark + call)}</text>"
        )
        raw = {
            "llm": "not scored"
            if row["llm_logprob"] is None
            else f"log p = {row['llm_logprob']:.3f}",
            "affordance": f"V = {row['affordance']:.3f}",
            "combined": "forbidden"
            if row["combined_raw"] is None
            else f"score = {row['combined_raw']:.3f}",
        }
        for k, key in enumerate(("llm", "affordance", "combined")):
            x = label_w + k * (bar_w + gap)
            value = row[key]
            length = 0.0 if value is None else max(0.0, min(1.0, value)) * bar_w
            out.append(
                f'<rect x="{x}" y="{y + 2}" width="{length:.1f}" height="{row_h - 8}" '
                f'fill="{COLOURS[key]}" class="bar {key}">'
                f"<title>{escape(row['call'])}: {raw[key]}</title></rect>"
            )
            text = "–" if value is None else f"{value:.2f}"
            out.append(f'<text x="{x + length + 3:.1f}" y="{y + 12}" class="value">{text}</text>')
    out.append("</svg>")
    return "".join(out)


def read_trace(path: Path) -> list[dict]:
    """Decision records of one trace; a line cut by a kill, corrupted bytes or a record whose
    fields have the wrong shape (a hand-edited trace) ends it, so pages and reports read only
    records shaped as the runner writes them."""
    steps = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            step = json.loads(line)
        except json.JSONDecodeError:
            break
        if not isinstance(step, dict):
            continue
        if not _well_formed(step):
            break
        steps.append(step)
    return steps


def _well_formed(step: dict) -> bool:
    candidates = step.get("candidates", [])
    return (
        isinstance(candidates, list)
        and all(isinstance(c, dict) for c in candidates)
        and isinstance(step.get("generation") or {}, dict)
        and isinstance(step.get("llm_stats") or {}, dict)
    )


# --------------------------------------------------------------------------- media


def _frame_data_uri(path: Path) -> str | None:
    """A PNG data URI, downscaled to FRAME_MAX_WIDTH so long episodes stay small."""
    if not path.is_file():
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if img.width > FRAME_MAX_WIDTH:
                img = img.resize((FRAME_MAX_WIDTH, round(img.height * FRAME_MAX_WIDTH / img.width)))
            buf = io.BytesIO()
            img.convert("RGB").save(buf, format="PNG", optimize=True)
    except (OSError, UnidentifiedImageError):  # a frame cut by a kill: show the rest
        return None
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _video_html(episode_dir: Path, recorded: str | None) -> str:
    """The episode video embedded (or linked when large); a GIF fallback shows as an image."""
    candidates = [Path(recorded)] if recorded else []
    candidates += [episode_dir / "video.mp4", episode_dir / "video.gif"]
    if recorded:  # a moved run directory: the same file name next to the trace
        candidates.append(episode_dir / Path(recorded).name)
    video = next((p for p in candidates if p.is_file()), None)
    if video is None:
        return '<p class="muted">no video recorded</p>'
    gif = video.suffix.lower() == ".gif"
    if video.stat().st_size <= VIDEO_EMBED_MAX_BYTES:
        mime = "image/gif" if gif else "video/mp4"
        src = f"data:{mime};base64," + base64.b64encode(video.read_bytes()).decode("ascii")
    else:
        src = escape(quote(os.path.relpath(video, episode_dir)))
    if gif:
        return f'<img class="video" src="{src}" alt="episode video">'
    return f'<video class="video" controls muted playsinline src="{src}"></video>'


# --------------------------------------------------------------------------- page


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem;\
color:#1b1f24;background:#fff}
h1{font-size:1.3rem;margin:0 0 .3rem}h2{font-size:1.05rem;margin:0 0 .4rem}
.ok{color:#2b8a3e;font-weight:600}.fail{color:#c92a2a;font-weight:600}.muted{color:#6b7280}
.decision{border:1px solid #d0d7de;border-radius:6px;padding:.8rem;margin:1rem 0}
.row{display:flex;gap:1rem;flex-wrap:wrap;align-items:flex-start}
.frame{border:1px solid #d0d7de;max-width:480px}
pre{background:#f6f8fa;padding:.5rem;border-radius:4px;white-space:pre-wrap;font-size:.8rem;\
margin:.3rem 0}
svg text{font-size:11px;font-family:ui-monospace,Menlo,Consolas,monospace}
svg .axis{font-weight:600}svg .zero{stroke:#999;stroke-width:1}
svg .chosen-row{fill:#fff3bf}.video{max-width:640px;border:1px solid #d0d7de}
table.meta td{padding:0 .8rem 0 0;vertical-align:top}\
.interaction{background:#e7f5ff;padding:.4rem;border-radius:4px}
"""


def _result_html(result: Mapping[str, Any] | None, chosen: str) -> str:
    if result is None:
        return f"<p>chose <code>{escape(chosen)}</code>: the episode ends here.</p>"
    status = (
        '<span class="ok">ok</span>'
        if result.get("success")
        else (f'<span class="fail">FAILED</span> ({escape(str(result.get("reason") or "?"))})')
    )
    message = f" – {escape(str(result['message']))}" if result.get("message") else ""
    prims = result.get("primitives") or []
    prim_text = ", ".join(f"{p.get('name')}: {p.get('status')}" for p in prims)
    prim_html = f'<p class="muted">motor primitives: {escape(prim_text)}</p>' if prim_text else ""
    return (
        f"<p>executed <code>{escape(str(result.get('call', chosen)))}</code>: {status}{message}, "
        f"{escape(str(result.get('steps', '?')))} sim steps</p>{prim_html}"
    )


def _interaction_html(step: Mapping[str, Any]) -> str:
    parts = []
    for field in INTERACTION_FIELDS:
        value = step.get(field)
        if value in (None, "", [], {}):
            continue
        items = value if isinstance(value, list) else [value]
        if field == "prediction_set":
            items = [" | ".join(str(v) for v in items)]
        for item in items:
            if isinstance(item, Mapping) and "message" in item:  # a disturbance event
                item = f"{item['message']} (at {item.get('position')})"
            text = item if isinstance(item, str) else json.dumps(item)
            parts.append(f'<p class="interaction {field}"><b>{field}:</b> {escape(text)}</p>')
    return "".join(parts)


def _decision_html(episode_dir: Path, step: Mapping[str, Any]) -> str:
    index = step.get("step", "?")
    frame = _frame_data_uri(episode_dir / step["frame"]) if step.get("frame") else None
    frame_html = (
        f'<img class="frame" src="{frame}" alt="camera frame before step {index}">'
        if frame
        else '<p class="muted">no frame recorded</p>'
    )
    prompt = step.get("prompt") or ""
    prompt_html = (
        f"<details><summary>prompt ({len(prompt)} characters)</summary>"
        f'<pre class="prompt">{escape(prompt)}</pre></details>'
        if prompt
        else ""
    )
    seconds = step.get("seconds")
    timing = f"{seconds:.3f} s to decide" if isinstance(seconds, (int, float)) else ""
    return (
        f'<section class="decision" id="step-{escape(str(index))}">'
        f"<h2>step {escape(str(index))}: <code>{escape(str(step.get('chosen')))}</code> "
        f'<span class="muted">{escape(timing)}</span></h2>'
        f'<div class="row"><div>{frame_html}</div><div><b>scene</b>'
        f'<pre class="scene">{escape(str(step.get("scene_text", "")))}</pre>'
        f"{prompt_html}</div></div>"
        f"{_rewrites_html(step.get('rewrites'))}"
        f"{_generation_html(step.get('generation'))}{decision_chart(step)}"
        f"{_result_html(step.get('result'), str(step.get('chosen')))}{_interaction_html(step)}"
        "</section>"
    )


def _rewrites_html(rewrites: object) -> str:
    """The other wordings the calls were also scored under (planner.rewriter)."""
    if not isinstance(rewrites, list) or not rewrites:
        return ""
    said = "; ".join(f"<code>{escape(str(r))}</code>" for r in rewrites)
    return f'<p><b>also scored as</b> {said} <span class="muted">log-probs averaged</span></p>'


def _generation_html(generation: Mapping[str, Any] | None) -> str:
    """What the model wrote (planners that generate), and how it was read: grounded (the
    chart's `combined` bars are the grounding scores) or, for a goal or a program, the
    planner's own one-line `summary`."""
    if not generation:
        return ""
    how = generation.get("summary") or (
        f"{generation.get('mapping', '?')} grounding, "
        + ("written verbatim" if generation.get("exact") else "closest admissible call")
        + (
            f", {generation.get('generated_tokens', '?')} tokens, "
            f"stopped by {generation.get('stopped_by', '?')}"
        )
    )
    return (
        f"<p><b>the model wrote</b> <code>{escape(str(generation.get('text', '')))}</code> "
        f'<span class="muted">{escape(how)}</span></p>'
    )


def write_episode_html(episode_dir: Path, out: Path | None = None) -> Path:
    """Write `episode.html` (or `out`) for the episode in `episode_dir`: episode.json (when the
    episode finished), trace.jsonl, frames/ and the video. Returns the page's path."""
    episode_dir = Path(episode_dir)
    trace = episode_dir / "trace.jsonl"
    if not trace.is_file():
        raise ViewerError(f"no trace.jsonl in {episode_dir}")
    steps = read_trace(trace)
    meta_path = episode_dir / "episode.json"
    try:
        meta: dict[str, Any] = (
            json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        )
    except json.JSONDecodeError:
        meta = {}  # cut by a kill: the trace still tells the story
    if not isinstance(meta, dict):
        meta = {}
    title = f"{meta.get('task', episode_dir.name)} (seed {meta.get('seed', '?')})"
    if "success" in meta:
        verdict = (
            '<span class="ok">SUCCESS</span>'
            if meta["success"]
            else '<span class="fail">FAILURE</span>'
        )
    else:
        verdict = '<span class="muted">unfinished (no episode.json)</span>'
    facts = [
        ("instruction", meta.get("instruction")),
        ("planner", meta.get("planner") or (steps[0].get("planner") if steps else None)),
        ("llm", meta.get("llm")),
        ("executor", meta.get("executor")),
        ("stopped by", meta.get("stopped_by")),
        ("steps", meta.get("steps", len(steps))),
        ("plan", " → ".join(meta.get("plan") or [])),
        ("goal not met", ", ".join(meta.get("unmet") or [])),
        ("expert plan", " → ".join(meta.get("expert_plan") or [])),
        ("LLM tokens", meta.get("llm_tokens")),
        ("s / decision", meta.get("s_per_decision")),
    ]
    rows = "".join(
        f"<tr><td><b>{escape(k)}</b></td><td>{escape(str(v))}</td></tr>"
        for k, v in facts
        if v not in (None, "")
    )
    html = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body>"
        f'<h1>{escape(title)}: {verdict}</h1><table class="meta">{rows}</table>'
        f"<h2>video</h2>{_video_html(episode_dir, meta.get('video'))}"
        f"<h2>{len(steps)} decision{'s' if len(steps) != 1 else ''}</h2>"
        + "".join(_decision_html(episode_dir, s) for s in steps)
        + "</body></html>"
    )
    out = Path(out) if out is not None else episode_dir / "episode.html"
    write_atomic(out, html)
    return out


def write_index_html(
    results_dir: Path,
    summary: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    pages: Sequence[Path],
) -> Path:
    """`index.html` beside the report: the Markdown table's rows, the plots and a link to every
    episode page (relative links, so the directory can be moved or zipped)."""
    results_dir = Path(results_dir)
    head = (
        "config",
        "measure",
        "family",
        "split",
        "n",
        "success",
        "Wilson 95%",
        "mean steps",
        "early stop",
        "over budget",
        "LLM tokens / ep",
        "s / decision",
    )
    body = []
    for r in rows:
        cells = (
            r["label"],
            r["measure"],
            r["family"],
            r["split"],
            r["n"],
            f"{r['successes']} ({r['success_rate']:.2f})",
            f"[{r['ci95_low']:.2f}, {r['ci95_high']:.2f}]",
            r["mean_steps"],
            r["early_termination_rate"],
            r["over_budget_rate"],
            r["llm_tokens_per_episode"],
            r["s_per_decision"],
        )
        body.append(
            "<tr>"
            + "".join(f"<td>{escape('-' if c is None else str(c))}</td>" for c in cells)
            + "</tr>"
        )
    plots = "".join(
        f'<p><img src="{escape(quote(os.path.relpath(summary["files"][k], results_dir)))}" '
        f'alt="{k}" style="max-width:100%"></p>'
        for k in ("success_by_family", "score_distributions")
    )
    links = "".join(
        f'<li><a href="{escape(quote(os.path.relpath(p, results_dir)))}">'
        f"{escape(str(p.parent.relative_to(results_dir)))}</a></li>"
        for p in sorted(pages)
    )
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Evaluation report</title>"
        f"<style>{CSS} table.report td,table.report th"
        "{border:1px solid #d0d7de;padding:2px 6px;font-size:.85rem}"
        "table.report{border-collapse:collapse}</style></head><body>"
        f"<h1>Evaluation report: {summary['episodes']} episodes</h1>"
        '<table class="report"><tr>'
        + "".join(f"<th>{escape(h)}</th>" for h in head)
        + "</tr>"
        + "".join(body)
        + "</table>"
        + plots
        + f"<h2>episodes ({len(pages)} with a trace)</h2><ul>{links}</ul></body></html>"
    )
    path = results_dir / "index.html"
    write_atomic(path, html)
    return path

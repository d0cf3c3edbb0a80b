"""The episode viewer: a real episode (packaged SmolLM2, real PyBullet, teleport executor, frames
and video on) rendered as HTML and checked in headless Chromium (Debian's `chromium`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from PIL import Image

from saycan.eval.viewer import TOP_K, ViewerError, chart_rows, write_episode_html
from saycan.runtime.components import Components
from saycan.runtime.episode import run_episode

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def episode_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("config", overrides=["executor=teleport"])
    components = Components(cfg)
    out = tmp_path_factory.mktemp("episode")
    try:
        run_episode(components, "put_block_in_bowl", 0, out, video=True, frames=True)
    finally:
        components.close()
    return out


def _browser():
    """Headless Debian Chromium through Playwright; a missing browser is a failure, not a skip."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[test]'")
    return sync_playwright()


def test_episode_page_renders_one_chart_per_decision(episode_dir: Path, tmp_path: Path):
    page_path = write_episode_html(episode_dir)
    trace = [json.loads(line) for line in (episode_dir / "trace.jsonl").read_text().splitlines()]
    episode = json.loads((episode_dir / "episode.json").read_text())
    assert len(trace) == episode["steps"] >= 1
    html = page_path.read_text()
    assert "data:image/png;base64," in html and "data:video/mp4;base64," in html  # self-contained
    assert page_path.stat().st_size < 2_000_000

    shot = tmp_path / "episode.png"
    with _browser() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(page_path.as_uri())
            charts = page.locator("svg.decision-chart")
            assert charts.count() == len(trace)
            for i, step in enumerate(trace):
                chart = charts.nth(i)
                assert chart.locator("rect.chosen-row").count() == 1
                rows = chart_rows(step)  # top-K by combined score, plus the chosen call
                assert len(step["candidates"]) > TOP_K >= len(rows) - 1
                assert chart.locator("rect.bar.combined").count() == len(rows)
                assert (
                    chart.locator("text.call")
                    .filter(has_text="▶")
                    .first.text_content()
                    .endswith(step["chosen"])
                )
                assert chart.bounding_box()["width"] > 300  # laid out, not collapsed
            frames = page.locator("section.decision img.frame")
            assert frames.count() == len(trace)
            assert all(
                frames.nth(i).evaluate("img => img.naturalWidth") > 0 for i in range(frames.count())
            )
            assert page.locator("video").count() == 1
            assert page.locator("details pre.prompt").count() == len(trace)
            assert episode["instruction"] in page.locator("body").inner_text()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.shape[0] > 600
    assert pixels.std() > 10 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # not blank


def test_feedback_question_and_answer_are_shown(episode_dir: Path, tmp_path: Path):
    copy = tmp_path / "ep"
    shutil.copytree(episode_dir, copy)
    lines = (copy / "trace.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first.update(
        feedback="the red block slipped <b>", question="which bowl?", answer="the blue one"
    )
    (copy / "trace.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    html = write_episode_html(copy).read_text()
    assert (
        '<p class="interaction feedback"><b>feedback:</b> the red block slipped &lt;b&gt;</p>'
        in html
    )
    assert "which bowl?" in html and "the blue one" in html


def test_the_wordings_a_decision_was_also_scored_under_are_shown(episode_dir, tmp_path):
    copy = tmp_path / "ep"
    shutil.copytree(episode_dir, copy)
    lines = (copy / "trace.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    first["rewrites"] = ["put the green block in the <b>blue</b> bowl"]
    (copy / "trace.jsonl").write_text("\n".join([json.dumps(first), *lines[1:]]) + "\n")
    html = write_episode_html(copy).read_text()
    assert "<b>also scored as</b> <code>put the green block in the &lt;b&gt;blue" in html
    assert html.count("also scored as") == 1  # only the decision that had one


def test_interrupted_episode_still_renders(episode_dir: Path, tmp_path: Path):
    """Killed mid-episode: no episode.json, the last trace line cut, a frame half-written."""
    copy = tmp_path / "ep"
    shutil.copytree(episode_dir, copy)
    (copy / "episode.json").unlink()
    lines = (copy / "trace.jsonl").read_text().splitlines()
    (copy / "trace.jsonl").write_text(lines[0] + "\n" + lines[-1][:50])
    (copy / "frames" / "step_00.png").write_bytes(b"\x89PNG\r\n")
    html = write_episode_html(copy).read_text()
    assert "unfinished (no episode.json)" in html and "no frame recorded" in html
    assert html.count('class="decision-chart"') == 1


def test_chart_rows_keep_top_k_and_the_chosen_call():
    cands = [
        {
            "call": f"robot.c{i}()",
            "llm_logprob": -float(i),
            "affordance": 1.0,
            "combined": -float(i),
        }
        for i in range(30)
    ]
    cands.append(
        {"call": "robot.forbidden()", "llm_logprob": None, "affordance": 0.0, "combined": None}
    )
    rows = chart_rows({"candidates": cands, "chosen": "robot.c25()"})
    assert [r["call"] for r in rows[:TOP_K]] == [f"robot.c{i}()" for i in range(TOP_K)]
    assert rows[-1]["call"] == "robot.c25()" and rows[-1]["chosen"] and len(rows) == TOP_K + 1
    shares = chart_rows({"candidates": cands, "chosen": "robot.c0()"}, top_k=100)
    assert sum(r["combined"] for r in shares) == pytest.approx(1.0)
    assert (
        shares[-1]["call"] == "robot.forbidden()"
        and shares[-1]["combined"] == 0.0
        and shares[-1]["llm"] is None
    )


def test_missing_trace_is_a_typed_error(tmp_path: Path):
    with pytest.raises(ViewerError, match="no trace.jsonl"):
        write_episode_html(tmp_path)


def test_report_of_a_single_run_directory(episode_dir: Path, tmp_path: Path):
    """A `saycan run` directory (episode.json, no results.jsonl) is a one-episode report."""
    from saycan.eval.report import build_report

    copy = tmp_path / "run"
    shutil.copytree(episode_dir, copy)
    summary = build_report(copy)
    assert summary["episodes"] == 1 and summary["episode_pages"] == 1
    ((label, entry),) = summary["per_planner"].items()
    assert label == "saycan" and set(entry) >= {"success_rate", "ci95", "planning"}
    assert 'href="episode.html"' in (copy / "index.html").read_text()

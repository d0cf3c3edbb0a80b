"""`viewer=rerun`: a real episode (packaged SmolLM2 planner, real PyBullet and motor primitives)
saved as `episode.rrd` and read back with Rerun's own reader: every decision, image, score and
the end-effector path are in it, and they agree with the episode's trace."""

from __future__ import annotations

import json
import math
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from rerun.chunk import RrdReader

from saycan.errors import ConfigError, OutputError
from saycan.eval.rerun_viewer import RerunViewer
from saycan.runtime.components import Components
from saycan.runtime.episode import run_episode

#: The oracle on the teleport executor, fast; the packaged SmolLM2 planner on real motor
#: primitives (LLM scores in every decision, the arm's path), slow for its model load.
SETUPS = [
    pytest.param(["planner=oracle", "executor=teleport"], id="oracle-teleport"),
    pytest.param([], id="llm-physics", marks=pytest.mark.slow),
]


@pytest.fixture(scope="module", params=SETUPS)
def episode_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("config", overrides=["viewer=rerun", *request.param])
    components = Components(cfg)
    out = tmp_path_factory.mktemp("episode")
    try:  # frames off: the viewer alone makes the simulator render the camera
        run_episode(components, "put_block_in_bowl", 0, out, video=False, frames=False)
    finally:
        components.close()
    return out


def _rows(rrd: Path) -> dict[str, list[dict]]:
    """Every logged row of every entity, in `step` order, as {column: value}."""
    rows: dict[str, list[dict]] = defaultdict(list)
    for chunk in RrdReader(rrd).stream().to_chunks():
        batch = chunk.to_record_batch()
        if "log_time" in batch.schema.names:  # wall-clock nanoseconds: not read here
            batch = batch.drop_columns(["log_time"])
        rows[chunk.entity_path].extend(batch.to_pylist())
    return {path: sorted(r, key=lambda row: row.get("step") or 0) for path, r in rows.items()}


def test_the_rrd_holds_every_decision_image_and_score_of_the_trace(episode_dir: Path):
    trace = [json.loads(line) for line in (episode_dir / "trace.jsonl").read_text().splitlines()]
    episode = json.loads((episode_dir / "episode.json").read_text())
    assert episode["success"] and len(trace) == episode["steps"] >= 2
    rows = _rows(episode_dir / "episode.rrd")

    steps = list(range(len(trace)))
    for path in (
        "/decisions/log",
        "/decisions/table",
        "/decisions/candidates",
        "/decisions/outcome",
        "/world/camera/rgb",
        "/world/camera/depth",
        "/world/objects",
        "/world/ee_path",
    ):
        assert [r["step"] for r in rows[path]] == steps, path  # one row per decision, in order
    assert len(rows["/episode/result"]) == 1 and len(rows["/episode/instruction"]) == 1
    assert {"Pinhole:image_from_camera", "Transform3D:translation"} <= {
        k for r in rows["/world/camera"] for k, v in r.items() if v is not None
    }

    for step, cands, outcome, log in zip(
        trace, rows["/decisions/candidates"], rows["/decisions/outcome"], rows["/decisions/log"]
    ):
        assert cands["call"] == [c["call"] for c in step["candidates"]]
        assert cands["affordance"] == pytest.approx([c["affordance"] for c in step["candidates"]])
        for logged, c in zip(
            cands["llm_logprob"] + cands["combined"],
            [c["llm_logprob"] for c in step["candidates"]]
            + [c["combined"] for c in step["candidates"]],
        ):
            assert math.isnan(logged) if c is None else logged == pytest.approx(c)
        assert outcome["chosen"] == [step["chosen"]]
        assert outcome["success"] == [step["result"]["success"] if step["result"] else True]
        assert step["chosen"] in log["TextLog:text"][0]
    # the chosen calls' finite scores as series (the oracle asks no LLM: it has none)
    for what in ("llm_logprob", "affordance", "combined"):
        chosen = [next(c[what] for c in s["candidates"] if c["call"] == s["chosen"]) for s in trace]
        logged = [r["Scalars:scalars"][0] for r in rows.get(f"/scores/chosen/{what}", [])]
        assert logged == pytest.approx([v for v in chosen if v is not None]), what

    first = rows["/world/objects"][0]
    assert sorted(first["Boxes3D:labels"]) == sorted(
        o["name"] for o in trace[0]["scene"]["objects"]
    )
    # the path: where the arm was at each decision plus where each motion of the skills ended
    motions = sum(
        1 for s in trace if s["result"] for p in s["result"]["primitives"] if p["position"]
    )
    path = rows["/world/ee_path"][-1]["LineStrips3D:strips"][0]
    assert len(path) == len(trace) + motions
    assert motions >= 4 or episode["executor"] == "teleport"


def test_bad_file_names_and_urls_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="must be a file name ending in .rrd"):
        RerunViewer(filename="../elsewhere.rrd")
    with pytest.raises(ConfigError, match="must be a Rerun URL"):
        RerunViewer(connect="http://127.0.0.1:9876")
    for name in (123, ".rrd", None):
        with pytest.raises(ConfigError, match="must be a file name ending in .rrd"):
            RerunViewer(filename=name)
    with pytest.raises(ConfigError, match="viewer.spawn must be true or false"):
        RerunViewer(spawn="no")  # `viewer.spawn=no` on the command line: not a viewer started
    with pytest.raises(ConfigError, match="viewer.application_id"):
        RerunViewer(application_id="")


def test_a_run_directory_that_refuses_the_rrd_is_one_output_error(tmp_path: Path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")  # a run "directory" that is a file: nothing can be created in it
    with pytest.raises(OutputError, match="viewer=rerun cannot write .*episode.rrd"):
        RerunViewer().begin(not_a_dir, "put the red block in the bowl")


@pytest.mark.slow  # Rerun waits ~11 s for a viewer that never answers
def test_a_viewer_that_never_answers_loses_nothing(tmp_path: Path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                "viewer=rerun",
                f"viewer.connect=rerun+http://127.0.0.1:{port}/proxy",
                "planner=oracle",
                "executor=teleport",
            ],
        )
    components = Components(cfg)
    try:
        result = run_episode(
            components, "put_block_in_bowl", 0, tmp_path, video=False, frames=False
        )
    finally:
        components.close()
    assert result.success
    assert len(_rows(tmp_path / "episode.rrd")["/decisions/log"]) == result.steps


def test_the_default_run_never_imports_rerun():
    code = (
        "import sys\n"
        "from hydra.utils import instantiate\n"
        "from saycan.api import compose_config\n"
        "import saycan.cli, saycan.runtime.episode\n"
        "viewer = instantiate(compose_config().viewer)\n"
        "print(viewer.name, 'rerun' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert out.stdout.split() == ["none", "False"], out.stderr


@pytest.mark.slow  # a whole `saycan run` process
def test_an_interrupted_episode_leaves_a_complete_rrd(tmp_path: Path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "viewer=rerun",
            "planner=oracle",
            "executor=teleport",
            "safety.confirm=true",
            "quiet=true",
            "video=false",
            "task=stack_blocks",
            "seed=0",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=tmp_path,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdin.write("y\n")  # the first skill runs; the second waits for its "y"
    proc.stdin.flush()
    trace = tmp_path / "trace.jsonl"
    deadline = time.monotonic() + 120
    while not (trace.exists() and trace.read_text().count("\n") >= 1):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-2000:]
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    rows = _rows(tmp_path / "episode.rrd")
    assert len(rows["/decisions/log"]) == 1
    assert "stopped by interrupted" in rows["/episode/result"][0]["TextDocument:text"][0]

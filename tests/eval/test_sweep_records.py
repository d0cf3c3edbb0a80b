"""The sweep engine's pieces in-process: the shared results file (exactly once, cut lines),
task families, and the packaged experiments and launcher configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import get_class

import saycan.configs
from saycan.errors import SayCanError
from saycan.eval.callbacks import planned_episodes
from saycan.eval.records import ResultsStore
from saycan.sim.tasks.families import expand_tasks, task_families

EXPERIMENTS = sorted(
    p.stem for p in (Path(saycan.configs.__file__).parent / "experiment").glob("*.yaml")
)


def test_results_store_records_each_key_once_and_survives_a_cut_line(tmp_path: Path):
    store = ResultsStore(tmp_path)
    assert store.append({"key": "a", "success": True})
    assert not store.append({"key": "a", "success": False})  # already recorded: the first stands
    with store.path.open("a") as f:
        f.write('{"key": "b", "succ')  # a writer killed mid-line
    assert store.append({"key": "c", "success": False})
    assert set(store.by_key()) == {"a", "c"}  # the cut record is dropped, so "b" runs again
    assert store.by_key()["a"]["success"] is True
    lines = store.path.read_text().splitlines()
    assert json.loads(lines[-1]) == {"key": "c", "success": False}  # not glued onto the cut line
    assert store.append({"key": "b", "success": True}) and len(store.by_key()) == 3


def test_a_line_that_is_not_utf8_is_skipped_not_a_crash(tmp_path: Path):
    # A corrupted block (or another tool's write) in results.jsonl made every resume a
    # UnicodeDecodeError traceback with exit 1.
    store = ResultsStore(tmp_path)
    assert store.append({"key": "a", "success": True})
    with store.path.open("ab") as f:
        f.write(b"\xff\xfe not utf-8\n")
    assert store.append({"key": "b", "success": False})
    assert not store.append({"key": "a", "success": False})
    assert [r["key"] for r in store] == ["a", "b"]
    assert store.by_key()["a"]["success"] is True


@pytest.mark.parametrize("kind", ["dir", "fifo"])
def test_results_file_that_is_not_a_file_is_one_line_and_exit_2(tmp_path: Path, kind: str):
    # A directory named results.jsonl was a traceback with exit 1; a FIFO blocked forever.
    import os
    import subprocess
    import sys

    path = tmp_path / "out" / "results.jsonl"
    path.parent.mkdir()
    path.mkdir() if kind == "dir" else os.mkfifo(path)
    with pytest.raises(SayCanError, match=r"not a regular file; move it away"):
        list(ResultsStore(path.parent))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "eval",
            "planner=oracle",
            "executor=teleport",
            "tasks=[put_block_in_bowl]",
            "episodes_per_task=1",
            "video=false",
            "quiet=true",
            f"output_dir={path.parent}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    err = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("pybullet")]
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert err == [f"saycan: error: cannot read {path}: not a regular file; move it away"]


def test_task_arguments_expand_families_and_reject_unknown_names():
    fams = task_families()
    assert {"embodiment", "structured", "single", "infeasible"} <= set(fams)
    assert expand_tasks("structured") == list(fams["structured"])
    assert expand_tasks(["put_block_in_bowl", "single"]) == [
        "put_block_in_bowl",
        *[t for t in fams["single"] if t != "put_block_in_bowl"],
    ]
    assert len(expand_tasks("all")) == sum(len(v) for v in fams.values())
    with pytest.raises(SayCanError, match="no_such_family"):
        expand_tasks("no_such_family")


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_its_sweep_is_runnable(name):
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("eval", overrides=[f"experiment={name}"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    assert params, f"experiment {name} sweeps nothing"
    for task in str(params.get("task", "")).split(","):
        if task:
            assert expand_tasks(task.strip())
    for planner in str(params.get("planner", "")).split(","):
        if planner:
            assert (
                Path(saycan.configs.__file__).parent / "planner" / f"{planner.strip()}.yaml"
            ).is_file()
    assert planned_episodes(cfg) > 0


def test_planned_episodes_counts_families_times_seeds_times_planners():
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(
            "eval", overrides=["experiment=planners_embodiment"], return_hydra_config=True
        )
    fams = task_families()
    assert planned_episodes(cfg) == 2 * 10 * (len(fams["embodiment"]) + len(fams["structured"]))


@pytest.mark.parametrize(
    ("launcher", "target"),
    [
        ("joblib", "JoblibLauncher"),
        ("ray_local", "RayLauncher"),
        ("submitit_local", "LocalLauncher"),
        ("slurm", "SlurmLauncher"),
    ],
)
def test_launcher_configs_compose_and_import(launcher, target):
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("eval", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith(target)
    assert get_class(cfg.hydra.launcher._target_)

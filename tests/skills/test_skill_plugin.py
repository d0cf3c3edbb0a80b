"""The out-of-tree skill plugin (examples/skill_plugin, installed by `make setup`): a new skill
and a task that needs it, used through config alone, with nothing under src/saycan changed.

The plugin's source directory is put on the path here as well, so these checks run the same
whether or not the package is installed."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from saycan.api import compose_config
from saycan.errors import ConfigError
from saycan.runtime.components import build_components
from saycan.runtime.episode import run_episode
from saycan.sim.tasks import Task
from saycan.skills.base import Skill, default_library

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "skill_plugin"
TASK = PLUGIN / "tasks" / "bowl_to_middle.yaml"
LIBRARY = PLUGIN / "src" / "saycan_example_skill" / "conf" / "skills" / "pick_place_slide.yaml"
SRC = Path(importlib.import_module("saycan").__file__).parent
#: The plugin's library and task, named on the command line only.
ARGS = [
    f"task={TASK}",
    "skills=pick_place_slide",
    "hydra.searchpath=[pkg://saycan_example_skill.conf]",
    "planner=oracle",
]


@pytest.fixture()
def plugin_path(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGIN / "src"))


def test_nothing_under_src_saycan_knows_the_plugin():
    """The skill's code, config and task live in the plugin: its package and its name appear
    nowhere in the library's code or configs."""
    mentions = [
        str(path.relative_to(SRC))
        for path in SRC.rglob("*")
        if path.suffix in (".py", ".yaml")
        and any(
            word in path.read_text()
            for word in ("saycan_example_skill", '"slide"', "slide(", "Slide")
        )
    ]
    assert mentions == []


def test_the_plugin_skill_is_a_whole_skill_and_the_task_needs_it(plugin_path):
    library = instantiate(OmegaConf.load(LIBRARY))
    slide = library.get("slide")
    assert isinstance(slide, Skill) and type(slide).__module__.startswith("saycan_example_skill")
    inst = Task(str(TASK)).sample(np.random.default_rng(0))
    [bowl] = [str(b) for b in inst.bindings.values()]
    assert inst.expert_plan(library)[0].to_text() == f"robot.slide({bowl}, middle)"
    with pytest.raises(
        ConfigError, match="no skill in the library"
    ):  # the fingers lift blocks only
        inst.expert_plan(default_library())


def _saycan(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(PLUGIN / "src"), os.environ.get("PYTHONPATH", "")) if p
        ),
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            *ARGS,
            *overrides,
            "video=false",
            "frames=false",
            "quiet=true",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
    )


def test_the_oracle_solves_the_plugin_task_through_config_alone(tmp_path, plugin_path):
    """The same overrides `saycan run` takes (the CLI itself runs in the slow physics check)."""
    cfg = compose_config([*ARGS, "executor=teleport"])
    components = build_components(cfg)
    try:
        result = run_episode(components, cfg.task, 0, tmp_path, video=False, frames=False)
    finally:
        components.close()
    assert result.success and result.plan[0].startswith("robot.slide(")


@pytest.mark.slow
def test_the_oracle_solves_the_plugin_task_under_physics(tmp_path):
    proc = _saycan(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["success"] and summary["executor"] == "physics"

"""What README.md and docs/ state about the stack agrees with the stack: task and family counts
come from `saycan tasks`, every config group and option is in the README's table, evaluation
seeds, affordance model sizes and calibration match the configs and the shipped checkpoint."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from functools import cache
from pathlib import Path

import yaml

import saycan.configs

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = Path(saycan.configs.__file__).parent
README = (ROOT / "README.md").read_text()


@cache
def families() -> dict[str, set[str]]:
    """Family -> tasks, as the user sees them: the output of `saycan tasks`."""
    proc = subprocess.run(
        [sys.executable, "-m", "saycan.cli", "tasks"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, set[str]] = defaultdict(set)
    for line in proc.stdout.splitlines():
        name, family = line.split()[:2]
        out[family].add(name)
    return dict(out)


def test_readme_counts_and_names_the_families():
    fams = families()
    m = re.search(r"(\d+) tasks in (\d+) families: ([a-z_,\s]+);", README)
    assert m, "README no longer states the task and family counts"
    assert int(m.group(1)) == sum(len(t) for t in fams.values())
    assert int(m.group(2)) == len(fams)
    assert {f.strip() for f in m.group(3).split(",")} == set(fams)


def test_tasks_md_lists_every_task_by_family():
    text = (ROOT / "docs" / "tasks.md").read_text()
    section = text.split("## Packaged tasks (by family)", 1)[1]
    listed: dict[str, set[str]] = {}
    for item in re.split(r"^- ", section, flags=re.M)[1:]:
        family, rest = item.split(":", 1)
        rest = rest.split("(", 1)[0]  # a trailing explanation in parentheses
        names = rest.replace("\n", " ").split(",")
        listed[family.strip()] = {t.strip() for t in names if t.strip()}
    assert listed == families()


def test_evaluation_md_and_the_baselines_sweep_cover_every_family():
    text = (ROOT / "docs" / "evaluation.md").read_text()
    m = re.search(r"a \*\*family\*\* \(([^:]+):", text)
    assert m
    assert set(re.findall(r"`(\w+)`", m.group(1))) == set(families())
    baselines = (CONFIGS / "experiment" / "baselines.yaml").read_text()
    swept = yaml.safe_load(baselines)["hydra"]["sweeper"]["params"]
    assert set(swept["task"].split(",")) == set(families())
    planners = swept["planner"].split(",")
    count = re.search(r"(\d+) planners x (\d+) tasks x (\d+) seeds = (\d+) episodes", baselines)
    assert count and int(count.group(1)) == len(planners)
    assert int(count.group(2)) == sum(len(t) for t in families().values())
    assert int(count.group(4)) == int(count.group(1)) * int(count.group(2)) * int(count.group(3))


def test_readme_table_lists_every_config_group_and_option():
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \|(.*)\|$", README, re.M)}
    groups = [d for d in CONFIGS.iterdir() if d.is_dir() and d.name not in ("hydra", "__pycache__")]
    for group in groups:
        assert group.name in rows, f"config group {group.name} is missing from README's table"
        for option in group.glob("*.yaml"):
            assert f"`{option.stem}`" in rows[group.name], (group.name, option.stem)


def test_readme_names_every_command():
    from saycan.cli import USAGE

    commands = re.findall(r"^  ([a-z-]+)\s", USAGE, flags=re.M)
    assert "calibrate" in commands
    for command in commands:
        assert f"saycan {command}" in README, command


def test_readme_sweeps_use_evaluation_seeds():
    seed_start = yaml.safe_load((CONFIGS / "eval.yaml").read_text())["seed_start"]
    ranges = re.findall(r"seed=range\((\d+),\s*(\d+)\)", README)
    assert ranges
    assert all(int(lo) >= seed_start for lo, _ in ranges), ranges


def test_affordances_md_states_the_shipped_model():
    text = (ROOT / "docs" / "affordances.md").read_text()
    train = yaml.safe_load((CONFIGS / "train_affordance.yaml").read_text())
    shipped = json.loads((ROOT / "src/saycan/assets/affordance/panda.json").read_text())
    hidden = shipped["training"]["model"]["hidden"]
    assert hidden == train["model"]["hidden"]
    assert f"hidden {'-'.join(map(str, hidden))}" in text
    assert len(re.findall(r"hidden \d+-\d+", text)) == 1
    assert f"`calibration: {train['calibration']}`" in text
    assert all(f["calibration"] == train["calibration"] for f in shipped["families"].values())

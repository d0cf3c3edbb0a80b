"""The real `saycan` command on hostile values and task files: one `saycan: error:` line,
exit code 2, no traceback, nothing created, and an API key in the environment never shows up
in stdout, stderr or the episode's files. (tests/eval/test_runconfig.py covers every bad
setting in-process; these few cases run the installed entry point end to end.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CANARY = "sk-canary-cli-0123456789abcdef"
HINT = (
    "is not a placeholder; a template may use only {R}, {R.colour} or {R.category} for a "
    "declared role R (no other braces)"
)
TASK = """name: leaky
family: single
scene: {{blocks: 2, bowls: 1}}
roles: {{A: {{category: block}}, B: {{category: bowl}}}}
instructions: {{seen: ["{template}"]}}
goal: [{{pred: in, args: [A, B]}}]
max_steps: 3
"""


def saycan(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENAI_API_KEY": CANARY}
    return subprocess.run(
        [sys.executable, "-m", "saycan.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def files_text(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


def test_hostile_values_and_task_files_exit_2_with_one_line(tmp_path):
    (tmp_path / "afile").write_text("")
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text(
        TASK.format(
            template=(
                "put {A.__new__.__globals__[dataclass].__globals__[sys].modules[os]"
                ".environ[OPENAI_API_KEY]} in {B}"
            )
        )
    )
    crash = tmp_path / "crash.yaml"
    crash.write_text(TASK.format(template="{A.__class__.__init__.__globals__}"))
    strict = tmp_path / "strict.yaml"
    strict.write_text(
        TASK.format(template="put {A} in {B}").replace("max_steps: 3", "max_steps: true")
    )
    cases = [
        (["run", "seed=abc"], "invalid seed 'abc': expected a non-negative integer"),
        (
            ["run", "hydra.run.dir=afile/run"],
            f"cannot use run directory '{tmp_path}/afile/run': '{tmp_path}/afile' is not a "
            "directory",
        ),
        (["eval", "seed_start=-1"], "invalid seed_start -1: expected a non-negative integer"),
        (
            ["run", f"task={leaky}"],
            f"{leaky}: field 'instructions.seen.0': "
            f"'{{A.__new__.__globals__[dataclass].__glob' {HINT}",
        ),
        (
            ["eval", f"tasks=[{crash}]"],
            f"{crash}: field 'instructions.seen.0': '{{A.__class__.__init__.__globals__}}' {HINT}",
        ),
        (
            ["run", f"task={strict}"],
            f"{strict}: field 'max_steps': Input should be a valid integer",
        ),
    ]
    for argv, line in cases:
        proc = saycan(*argv, cwd=tmp_path)
        assert (proc.returncode, proc.stderr) == (2, f"saycan: error: {line}\n"), argv
        assert proc.stdout == "" and CANARY not in proc.stdout + proc.stderr
    assert not (tmp_path / "runs").exists()  # every case was refused before Hydra started
    assert CANARY not in files_text(tmp_path)


def _literal_instruction_episode(tmp_path: Path, *args: str) -> tuple[dict, str]:
    run_dir = tmp_path / "run"
    proc = saycan(
        "run",
        "instruction='${oc.env:OPENAI_API_KEY}'",
        "max_steps=1",
        "video=false",
        "frames=false",
        "quiet=true",
        "executor=teleport",
        *args,
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
        timeout=600,
    )
    assert "Traceback" not in proc.stderr and proc.returncode in (0, 1), proc.stderr
    assert CANARY not in proc.stdout + proc.stderr
    assert CANARY not in files_text(run_dir)
    summary = json.loads(proc.stdout.splitlines()[-1])
    episode = json.loads((run_dir / "episode.json").read_text())
    assert summary["instruction"] == episode["instruction"] == "${oc.env:OPENAI_API_KEY}"
    return episode, (run_dir / "trace.jsonl").read_text()


def test_an_interpolation_in_the_instruction_stays_literal(tmp_path):
    """`instruction='${oc.env:OPENAI_API_KEY}'` is the instruction's text, not the key."""
    _literal_instruction_episode(tmp_path, "planner=oracle")


@pytest.mark.slow
def test_the_literal_instruction_is_what_the_language_model_is_prompted_with(tmp_path):
    _, trace = _literal_instruction_episode(tmp_path)  # the packaged LM planner
    prompts = [json.loads(line)["prompt"] for line in trace.splitlines()]
    assert prompts and all("${oc.env:OPENAI_API_KEY}" in p for p in prompts)


def test_a_task_whose_scene_does_not_fit_is_one_line(tmp_path):
    """It was a ValueError traceback with exit code 1, the code for a failed episode."""
    crowd = tmp_path / "crowd.yaml"
    crowd.write_text(
        TASK.format(template="put {A} in {B}")
        .replace("scene: {blocks: 2, bowls: 1}", "scene: {blocks: 6, bowls: 1}")
        .replace(
            "A: {category: block}",
            ", ".join(f"{r}: {{category: block, region: centre band}}" for r in "ACDEFG"),
        )
    )
    proc = saycan(
        "run",
        f"task={crowd}",
        "planner=oracle",
        "executor=teleport",
        "video=false",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    [line] = [ln for ln in proc.stderr.splitlines() if ln.startswith("saycan: error: ")]
    assert line.startswith("saycan: error: cannot place [") and line.endswith(
        "the task's scene does not fit (fewer objects or wider regions)"
    )


def test_an_error_line_never_shows_a_secret_a_value_interpolated(tmp_path):
    """A component's check echoes its value; the value was the key (`port` below). Error
    lines name the variable instead."""
    proc = saycan(
        "serve-llm", "port='${oc.env:OPENAI_API_KEY}'", f"hydra.run.dir={tmp_path}/r", cwd=tmp_path
    )
    assert proc.returncode == 2 and CANARY not in proc.stdout + proc.stderr
    assert proc.stderr.splitlines()[-1] == (
        "saycan: error: port must be an integer in 0..65535, got '<$OPENAI_API_KEY>'"
    )


def test_a_misspelt_argument_is_named_in_the_error_line(tmp_path):
    """Hydra's first line ("Error in call to target ...") hid which argument was wrong."""
    proc = saycan(
        "run",
        "planner=oracle",
        "+planner.max_stepz=3",
        "video=false",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert proc.stderr.splitlines()[-1] == (
        "saycan: error: could not build a component: Error in call to target "
        "'saycan.planner.baselines.OraclePlanner' (config key `planner`): TypeError: "
        "OraclePlanner.__init__() got an unexpected keyword argument 'max_stepz'"
    )


def test_a_sweep_keeps_an_interpolated_secret_out_of_records_and_summary(tmp_path):
    """The job's override interpolates the key and the constructor echoes the value it could not
    use. The failed episode's record and the summary were written with the key in them; they
    now carry `<$OPENAI_API_KEY>` or the override as typed."""
    sweep = tmp_path / "sweep"
    proc = saycan(
        "eval",
        "-m",
        "planner=oracle",
        "executor=teleport",
        "tasks=[put_block_in_bowl]",
        "episodes_per_task=1",
        "affordance.feasible_value=${oc.env:OPENAI_API_KEY}",
        f"hydra.sweep.dir={sweep}",
        cwd=tmp_path,
        timeout=300,
    )
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert CANARY not in proc.stdout + proc.stderr
    assert CANARY not in files_text(tmp_path)
    [record] = [json.loads(line) for line in (sweep / "results.jsonl").read_text().splitlines()]
    assert record["success"] is False
    assert record["error"].endswith("could not convert string to float: '<$OPENAI_API_KEY>'")
    assert "affordance.feasible_value=" in record["label"] and "OPENAI_API_KEY" in record["label"]
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert "affordance.feasible_value=${oc.env:OPENAI_API_KEY}" in summary["overrides"]

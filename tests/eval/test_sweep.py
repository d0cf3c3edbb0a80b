"""`saycan eval` sweeps: Hydra multirun over configs x tasks x seeds on real launchers (joblib,
Ray, submitit), one shared results file, failures as records, resume after a kill, and the
summary JSON as the last stdout line. Real PyBullet episodes; the cheap planners (`oracle`,
`random`) keep the language model out of the fast tests, the slow one runs SmolLM2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from saycan.cli import main
from saycan.seeds import PLANNER_TRAINING

CHEAP = ["executor=teleport", "hydra.callbacks.sweep.report=false"]

SEEN_ONLY = """\
name: seen_only
family: single
description: A task without unseen paraphrases (split=unseen fails inside the episode).
scene:
  blocks: {min: 2, max: 3}
  bowls: {min: 2, max: 2}
roles:
  A: {category: block}
  B: {category: bowl}
instructions:
  seen:
    - "put the {A} in the {B}"
goal:
  - {pred: in, args: [A, B]}
max_steps: 4
"""


def saycan(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "saycan.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def last_json(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, proc.stderr[-3000:]
    return json.loads(lines[-1])


def records(results_dir: Path) -> list[dict]:
    return [
        json.loads(line)
        for line in (results_dir / "results.jsonl").read_text().splitlines()
        if line.strip()
    ]


def test_joblib_two_workers_one_shared_file_and_failures_as_records(tmp_path: Path):
    task = tmp_path / "seen_only.yaml"
    task.write_text(SEEN_ONLY)
    out = tmp_path / "sweep"
    proc = saycan(
        "eval",
        "-m",
        "planner=oracle,random",
        "split=seen,unseen",
        f"task={task}",
        "seed=3",
        *CHEAP,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"hydra.sweep.dir={out}",
        cwd=tmp_path,
    )
    summary = last_json(proc)
    assert summary["episodes"] == 4 and summary["results_dir"] == str(out)
    assert summary["launcher"].endswith("JoblibLauncher") and summary["n_jobs"] == 2
    # split=unseen cannot run on this task: a failed record with its reason, not a crashed sweep
    assert summary["errors"] == 2
    oracle, rand = summary["per_planner"]["oracle"], summary["per_planner"]["random"]
    assert (oracle["n"], oracle["successes"], rand["n"]) == (2, 1, 2)
    assert oracle["ci95"] == [0.0945, 0.9055]  # Wilson 95% for 1/2
    recs = records(out)
    assert len(recs) == 4 and len({r["key"] for r in recs}) == 4
    assert len({r["pid"] for r in recs}) <= 2  # two joblib workers, models cached per worker
    failed = [r for r in recs if r.get("error")]
    assert {r["split"] for r in failed} == {"unseen"} and all(
        "no 'unseen' instructions" in r["error"] for r in failed
    )
    ok = next(r for r in recs if r["planner"] == "oracle" and r["split"] == "seen")
    assert ok["success"] and ok["choices"]["planner"] == "oracle" and Path(ok["trace"]).is_file()
    assert json.loads((out / "summary.json").read_text())["episodes"] == 4
    assert "episodes, success so far" in proc.stderr  # the progress bar, on stderr


def _wait_for_lines(path: Path, n: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} records after {timeout} s")


@pytest.mark.parametrize(
    "launcher",
    [
        pytest.param([], id="serial"),
        pytest.param(
            ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
            id="joblib",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_killed_sweep_rerun_loses_and_duplicates_nothing(launcher, tmp_path: Path):
    out = tmp_path / "sweep"
    args = [
        sys.executable,
        "-m",
        "saycan.cli",
        "eval",
        "-m",
        "planner=oracle,random",
        "task=put_block_in_bowl",
        "seed=range(0,4)",
        *CHEAP,
        "quiet=true",
        *launcher,
        f"hydra.sweep.dir={out}",
    ]
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for_lines(out / "results.jsonl", 2, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and any workers, mid-sweep
        proc.wait(timeout=30)
    before = (out / "results.jsonl").read_text()
    finished = [json.loads(line) for line in before.splitlines() if line.strip().endswith("}")]
    assert 2 <= len(finished) < 8

    summary = last_json(saycan(*args[3:], cwd=tmp_path))
    after = (out / "results.jsonl").read_text()
    recs = records(out)
    expected = {(p, s) for p in ("oracle", "random") for s in range(4)}
    assert sorted((r["planner"], r["seed"]) for r in recs) == sorted(expected)  # each exactly once
    assert after.startswith(before if before.endswith("\n") else before + "\n")  # nothing rewritten
    for r in finished:
        assert r in recs  # no finished record lost or changed
    assert summary["episodes"] == 8 and summary["new_episodes"] == 8 - len(finished)


def test_single_run_eval_expands_families_and_resumes(tmp_path: Path):
    out = tmp_path / "eval"
    base = [
        "eval",
        "planner=oracle",
        *CHEAP,
        "quiet=true",
        f"output_dir={out}",
        "episodes_per_task=1",
    ]
    first = last_json(saycan(*base, "tasks=[single]", cwd=tmp_path))
    assert first["episodes"] == 3 and first["success_rate"] == 1.0  # the `single` family: 3 tasks
    assert first["models"] == ["none"]  # the oracle asks no language model
    assert set(first["per_task"]) == {
        "move_block_between_bowls",
        "put_block_in_bowl",
        "put_block_on_block",
    }
    again = last_json(saycan(*base, "tasks=[put_block_on_block,single]", cwd=tmp_path))
    assert again["episodes"] == 3 and again["per_task"] == first["per_task"]
    recs = records(out)
    assert len(recs) == 3 and len({r["key"] for r in recs}) == 3  # the rerun skipped all three


@pytest.mark.slow  # loads the language model (the adapter is read from the built planner)
@pytest.mark.parametrize("lockstep", [1, 2])  # 2: the planner sees the model through a view
def test_single_run_eval_on_the_adapters_training_seeds_is_refused_before_any_episode(
    lockstep: int, tmp_path: Path, saycan_in_process
):
    out = tmp_path / "eval"
    args = ["task=put_block_in_bowl", f"seed_start={PLANNER_TRAINING.start}", "episodes_per_task=2"]
    args.append(f"lockstep={lockstep}")
    where = [f"output_dir={out}", f"hydra.run.dir={tmp_path / 'run'}"]
    code, err = saycan_in_process("eval", *args, *CHEAP, "quiet=true", *where)
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]  # after the model's loading bars
    assert last.startswith("saycan: error:") and "built from" in last and "smollm2_planner" in last
    assert not (out / "results.jsonl").exists()  # no episode ran, none recorded as failed


def test_a_scoring_device_the_machine_lacks_is_refused_before_any_episode(
    tmp_path: Path, saycan_in_process
):
    """`llm.device=cuda:99` parses everywhere; it must fail when the planner is built, not when
    the model is first moved there mid-run."""
    out = tmp_path / "eval"
    where = [f"output_dir={out}", f"hydra.run.dir={tmp_path / 'run'}"]
    code, err = saycan_in_process(
        "eval", "task=put_block_in_bowl", "llm.device=cuda:99", *CHEAP, "quiet=true", *where
    )
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("saycan: error:") and "llm.device='cuda:99' is not available" in last
    assert not (out / "results.jsonl").exists()  # no episode ran, none recorded as failed


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-m", "task=put_block_in_bowl,no_such_task", "seed=0,1"], "unknown task 'no_such_task'"),
        (["-m", "planner=oracle,no_such_planner", "seed=0,1"], "no_such_planner"),
        (["-m", "+robot.is_physical=true", "hydra/launcher=joblib", "seed=0,1"], "physical robot"),
        (["task=put_block_in_bowl,stack_blocks"], "add --multirun"),
    ],
)
def test_bad_sweeps_fail_before_any_job_with_one_line(
    args, needle, tmp_path: Path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert main(["eval", *args]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("saycan: error:") and needle in lines[0], (
        captured.err
    )
    assert not (tmp_path / "runs").exists()  # no job ran


@pytest.mark.slow
def test_ray_local_launcher_runs_a_tiny_sweep(tmp_path: Path):
    out = tmp_path / "sweep"
    summary = last_json(
        saycan(
            "eval",
            "-m",
            "planner=oracle,random",
            "task=put_block_in_bowl",
            "seed=0",
            *CHEAP,
            "quiet=true",
            "hydra/launcher=ray_local",
            f"hydra.sweep.dir={out}",
            cwd=tmp_path,
        )
    )
    assert summary["launcher"].endswith("RayLauncher")
    assert summary["per_planner"]["oracle"] == {
        "n": 1,
        "successes": 1,
        "success_rate": 1.0,
        "ci95": [0.2065, 1.0],
    }
    assert summary["per_planner"]["random"]["n"] == 1 and len(records(out)) == 2


@pytest.mark.slow
def test_submitit_local_launcher_runs_a_tiny_sweep(tmp_path: Path):
    out = "relative/sweep"  # resolved against the launch directory, as SLURM workers must
    summary = last_json(
        saycan(
            "eval",
            "-m",
            "planner=oracle",
            "task=put_block_in_bowl",
            "seed=0,1",
            *CHEAP,
            "quiet=true",
            "hydra/launcher=submitit_local",
            f"hydra.sweep.dir={out}",
            cwd=tmp_path,
        )
    )
    assert summary["launcher"].endswith("LocalLauncher")
    assert summary["results_dir"] == str(tmp_path / out)
    assert summary["per_planner"]["oracle"]["successes"] == 2 and len(records(tmp_path / out)) == 2


@pytest.mark.slow
def test_real_llm_planners_sweep_with_two_workers(tmp_path: Path):
    """The default language model (packaged SmolLM2) behind two planners, one job each."""
    out = tmp_path / "sweep"
    summary = last_json(
        saycan(
            "eval",
            "-m",
            "planner=saycan,llm_only",
            "task=put_block_in_bowl",
            "seed=100000",
            "executor=teleport",
            "quiet=true",
            "hydra/launcher=joblib",
            "hydra.launcher.n_jobs=2",
            f"hydra.sweep.dir={out}",
            cwd=tmp_path,
        )
    )
    assert set(summary["per_planner"]) == {"saycan", "llm_only"} and summary["errors"] == 0
    recs = records(out)
    assert all(r["llm"] != "none" and r["steps"] >= 1 for r in recs)
    assert summary["report"] is None or (out / "report.md").is_file()


def test_task_files_named_alike_keep_their_own_episode_directories(tmp_path: Path):
    """`a/x.yaml` and `b/x.yaml` shared one episode directory: the second trace replaced the
    first, whose record then pointed at it. `saycan calibrate` joined the task path itself
    under the run directory, so an absolute one was a traceback (NotADirectoryError)."""
    for sub, name in (("a", "first"), ("b", "second")):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "x.yaml").write_text(SEEN_ONLY.replace("seen_only", name))
    files = [str(tmp_path / "a" / "x.yaml"), str(tmp_path / "b" / "x.yaml")]
    out = tmp_path / "results"
    last_json(
        saycan(
            "eval",
            f"tasks=[{','.join(files)}]",
            "episodes_per_task=1",
            "quiet=true",
            "planner=oracle",
            "executor=teleport",
            f"output_dir={out}",
            f"hydra.run.dir={tmp_path / 'run'}",
            cwd=tmp_path,
        )
    )
    recs = records(out)
    assert sorted(r["task"] for r in recs) == ["first", "second"]
    for r in recs:
        assert Path(r["trace"]).is_relative_to(out)
        assert (
            json.loads((Path(r["trace"]).parent / "episode.json").read_text())["task"] == r["task"]
        )
    run = tmp_path / "calibrate"
    proc = saycan(
        "calibrate",
        "planner=oracle",
        f"tasks=[{files[0]}]",
        "episodes_per_task=1",
        f"hydra.run.dir={run}",
        cwd=tmp_path,
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    [episode] = (run / "episodes").glob("x-*/2000/trace.jsonl")
    assert (tmp_path / "a" / "x.yaml").is_file()  # nothing was made beside the task file

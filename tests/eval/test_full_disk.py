"""A full disk (RLIMIT_FSIZE in a child process stands in for ENOSPC: writes past the limit fail
with EFBIG) is one line and exit 2; result files are never left half-written and
`results.jsonl` keeps exactly the records it had."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

CHEAP = ["planner=oracle", "executor=teleport", "video=false", "frames=false", "quiet=true"]


def _limited(max_file_bytes: int):
    """preexec_fn: the child may not grow any file past `max_file_bytes` (Python ignores
    SIGXFSZ, so the write fails with EFBIG instead of killing the process)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))

    return apply


def _saycan(args: list[str], cwd: Path, limit: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "saycan.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=_limited(limit),
        env=_env(),
    )


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def _stderr_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("pybullet build")]


def test_full_disk_during_a_run_is_one_line_and_exit_2(tmp_path):
    # 4200 bytes: Hydra's own .hydra/*.yaml (under 4 kB) fit; the first trace line (5 kB)
    # does not.
    what = "trace.jsonl"
    proc = _saycan(["run", *CHEAP, f"hydra.run.dir={tmp_path}"], tmp_path, limit=4200)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert _stderr_lines(proc.stderr) == [
        f"saycan: error: cannot write {tmp_path}/{what}: File too large (nothing "
        "half-written was left)"
    ]
    assert "Traceback" not in proc.stdout + proc.stderr and '"stopped_by"' not in proc.stdout
    assert (tmp_path / what).read_bytes() == b""  # the line that did not fit is gone
    assert not (tmp_path / "episode.json").exists()  # never an empty or partial one
    assert not list(tmp_path.glob(".*.tmp*"))


def test_full_disk_in_a_sweep_keeps_results_jsonl_intact(tmp_path):
    # Records of an earlier, bigger sweep in the same results file (large enough that the new
    # episode's trace and episode.json still fit under the limit and the append is what fails).
    earlier = [
        {"key": f"earlier/put_block_in_bowl/{i}", "success": True, "log": "x" * 4000}
        for i in range(5)
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in earlier))
    before = results.read_bytes()
    proc = _saycan(
        [
            "eval",
            *CHEAP,
            "tasks=[put_block_in_bowl]",
            "episodes_per_task=1",
            f"output_dir={tmp_path}",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        tmp_path,
        limit=len(before) + 200,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert _stderr_lines(proc.stderr) == [
        f"saycan: error: cannot write {results}: File too large (nothing half-written was left)"
    ]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert results.read_bytes() == before  # the part of the new line that fitted was cut back
    (episode,) = tmp_path.glob("episodes/**/episode.json")  # the episode's own files are whole
    assert json.loads(episode.read_text())["stopped_by"] == "done"


def _child(code: str, limit: int, cwd: Path) -> subprocess.CompletedProcess:
    script = f"import resource\nresource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
    return subprocess.run(
        [sys.executable, "-c", script + textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )


def test_write_atomic_on_a_full_disk_keeps_the_old_file(tmp_path):
    (tmp_path / "episode.json").write_text('{"old": true}')
    proc = _child(
        """
        from saycan.errors import OutputError
        from saycan.files import write_atomic
        try:
            write_atomic("episode.json", "x" * 5000)
        except OutputError as exc:
            print(exc)
        """,
        limit=1000,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "cannot write episode.json: File too large (nothing half-written was left)"
    )
    assert (tmp_path / "episode.json").read_text() == '{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["episode.json"]  # no temporary file left

"""`saycan bench robustness`: the catalogue is valid data, the judge sees what a user would
see (exit code, one error line, tracebacks, the canary secret), and the real harness run
through the CLI prints its counts as the last stdout line and writes the per-case table."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from importlib import resources
from pathlib import Path

import pytest

from saycan.errors import ConfigError
from saycan.eval.robustness.catalogue import CLI_KINDS, HttpRequest, load_cases, select
from saycan.eval.robustness.http_cases import exchange
from saycan.eval.robustness.judge import classify_cli, scan_tree

PACKAGED = Path(str(resources.files("saycan").joinpath("assets/robustness/cases.yaml")))
COUNTS = {
    "cases",
    "clear_errors",
    "tracebacks",
    "secrets_leaked",
    "server_alive_after",
    "records_lost",
    "hangs",
    "unexpected",
}


def _bench(
    tmp_path: Path, *overrides: str, timeout: float
) -> tuple[subprocess.CompletedProcess, dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "bench",
            "robustness",
            *overrides,
            f"hydra.run.dir={tmp_path / 'bench'}",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    return proc, json.loads(proc.stdout.strip().splitlines()[-1])


def test_packaged_catalogue_covers_every_kind_of_hostile_input():
    cases = load_cases(PACKAGED)
    assert len(cases) >= 90
    groups = {c.group for c in cases}
    assert {
        "instruction",
        "task",
        "template",
        "safety",
        "eval",
        "run_dir",
        "llm",
        "checkpoint",
        "signals",
        "disk",
        "http",
        "robot",
        "viewer",
    } <= groups
    kinds = {c.kind for c in cases}
    assert {
        "cli",
        "signal",
        "kill_resume",
        "fsize",
        "http",
        "http_desync",
        "http_slow",
        "http_flood",
    } <= kinds
    # cases that already hold are in the catalogue too, not only the holes
    assert sum("runs" in c.expect for c in cases if c.kind in CLI_KINDS) >= 10


def test_selection_by_name_glob_and_group():
    cases = load_cases(PACKAGED)
    assert [c.name for c in select(cases, "seed_negative")] == ["seed_negative"]
    assert {c.name for c in select(cases, ["seed_*"])} >= {"seed_negative", "seed_text"}
    assert all(c.group == "http" for c in select(cases, "http"))
    with pytest.raises(ConfigError, match="matches no case"):
        select(cases, "no_such_case_*")


def test_a_bad_catalogue_is_one_readable_error(tmp_path):
    bad = tmp_path / "cases.yaml"
    bad.write_text("cases:\n  - {name: x, group: g, kind: cli, expect: [clear_error]}\n")
    with pytest.raises(ConfigError, match="needs argv and expect"):
        load_cases(bad)


def test_judge_separates_one_error_line_from_a_traceback(tmp_path):
    banner = "pybullet build time: Jan 29 2025 23:17:20\n"
    one = banner + "saycan: error: bad seed\n"
    assert classify_cli(2, False, "", one, tmp_path) == "clear_error"
    two = "saycan: error: bad seed\nsaycan: error: again\n"
    assert classify_cli(2, False, "", two, tmp_path) == "messy_error"
    tb = "Traceback (most recent call last):\n  File x\nValueError: y\n"
    assert classify_cli(1, False, "", tb, tmp_path) == "no_json"
    assert classify_cli(1, False, 'table\n{"success": false}\n', "", tmp_path) == "runs"
    assert classify_cli(None, True, "", "", tmp_path) == "hang"
    assert classify_cli(130, False, "", "", tmp_path) == "interrupted_no_episode"
    (tmp_path / "episode.json").write_text(json.dumps({"stopped_by": "interrupted"}))
    assert classify_cli(130, False, "", "", tmp_path) == "interrupted"


def test_scan_finds_the_canary_and_tracebacks_in_any_file(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "episode.json").write_text('{"instruction": "sk-canary-123"}')
    assert scan_tree(tmp_path, "sk-canary-123") == (True, False)
    (tmp_path / "cli.log").write_text("Traceback (most recent call last):\n")
    assert scan_tree(tmp_path, "sk-canary-999") == (False, True)


def _desyncing_server(listener: socket.socket) -> None:
    """Answers 413 after the head, keeps the connection and parses the unread body as the next
    request: the desync the harness must count as two responses on one connection."""
    conn, _ = listener.accept()
    with conn:
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += conn.recv(4096)
        conn.sendall(b"HTTP/1.1 413 Too Large\r\nContent-Length: 2\r\n\r\n{}")
        rest = buf.split(b"\r\n\r\n", 1)[1]
        while b"\r\n\r\n" not in rest:
            rest += conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        conn.recv(1)  # until the client hangs up


def test_http_exchange_counts_a_second_response_on_one_connection():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        thread = threading.Thread(target=_desyncing_server, args=(listener,), daemon=True)
        thread.start()
        smuggled = "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
        req = HttpRequest(headers={"Content-Length": "17000000"}, raw_body=smuggled)
        ex = exchange(listener.getsockname()[1], "key", req, timeout=10, linger=2.0)
        thread.join(timeout=10)
    assert (ex.status, ex.responses) == (413, 2)


def test_bench_runs_representative_cases_through_the_cli(tmp_path):
    """Four cases that hold on every version: two refused inputs (empty instruction, a FIFO as
    task file: refused, not read forever), a valid task file, a short sweep."""
    chosen = "cases=[instr_empty,task_fifo,task_file_ok,eval_ok]"
    proc, out = _bench(tmp_path, chosen, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert COUNTS <= set(out)
    assert out["cases"] == 4 and out["clear_errors"] == 2
    assert (
        out["tracebacks"],
        out["secrets_leaked"],
        out["records_lost"],
        out["hangs"],
        out["unexpected"],
    ) == (0, 0, 0, 0, 0)
    assert out["server_alive_after"] is None  # no HTTP case selected: no server started
    rows = json.loads((tmp_path / "bench" / "results.json").read_text())["cases"]
    assert [r["observed"] for r in rows] == ["clear_error", "clear_error", "runs", "runs"]
    table = (tmp_path / "bench" / "results.md").read_text()
    assert "| task_fifo | task | clear_error | clear_error | 2 |" in table


@pytest.mark.slow
def test_full_catalogue_keeps_every_promise(tmp_path):
    """The acceptance check: every hostile case gives its promised outcome, with no
    traceback, no leaked secret, no lost record and serve-llm still serving afterwards."""
    proc, out = _bench(tmp_path, timeout=1800)
    assert out["cases"] >= 90
    assert out["tracebacks"] == 0, out["unexpected_cases"]
    assert out["secrets_leaked"] == 0, out["unexpected_cases"]
    assert out["records_lost"] == 0
    assert out["server_alive_after"] is True
    assert out["hangs"] == 0, out["unexpected_cases"]
    assert out["unexpected"] == 0, out["unexpected_cases"]
    assert proc.returncode == 0

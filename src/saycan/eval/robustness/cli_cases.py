"""CLI cases: `python -m saycan.cli ...` in a child process with a canary secret in its
environment, bounded by a timeout, optionally signalled, killed and resumed, or file-size
limited (RLIMIT_FSIZE stands in for a full disk: a write past it fails with EFBIG)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from saycan.eval.robustness.catalogue import Case
from saycan.eval.robustness.judge import CaseResult, classify_cli, first_error, scan_tree

#: Appended to run/eval cases unless the case sets the key itself: no model, no physics, no
#: video, so that a case costs seconds (the hostile part is the rest of the command line).
CHEAP = {
    "run": ("planner=oracle", "executor=teleport", "video=false", "frames=false", "quiet=true"),
    "eval": ("planner=oracle", "executor=teleport", "quiet=true"),
}


@dataclass
class Context:
    """What every case shares: where to write, which tokens to expand, the child environment."""

    root: Path  # one sub-directory per case
    tokens: dict[str, str]  # <<name>> -> value, expanded in argv
    env: dict[str, str]
    canary: str
    python: str = sys.executable
    captured: Callable[[str], bytes] = field(default=lambda name: b"")  # prompts sent to a fake LLM


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def command(case: Case, ctx: Context, run_dir: Path, argv: tuple[str, ...]) -> list[str]:
    """The child's command line: tokens expanded, the cheap suffix and the run dir added."""
    tokens = {**ctx.tokens, "run_dir": str(run_dir), "case": case.name}
    expanded = []
    for arg in argv:
        for name, value in tokens.items():
            arg = arg.replace(f"<<{name}>>", value)
        expanded.append(arg)
    keys = {_key(a) for a in expanded[1:]}
    suffix = list(CHEAP.get(expanded[0], ())) if case.cheap else []
    if expanded[0] in ("run", "eval", "serve-llm", "bench", "calibrate"):
        suffix.append(f"hydra.run.dir={run_dir}")
    extra = [s for s in suffix if _key(s) not in keys]
    return [ctx.python, "-m", "saycan.cli", *expanded, *extra]


def records(path: Path) -> set[tuple]:
    """The finished episodes in a results.jsonl (complete, parseable lines only)."""
    found: set[tuple] = set()
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return found
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            found.add(tuple(str(rec.get(k)) for k in ("task", "split", "seed", "planner")))
    return found


def unparsable_lines(path: Path) -> int:
    """Lines of a results.jsonl that are not JSON (a torn write); reported, not judged."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return 0
    bad = 0
    for line in lines:
        try:
            json.loads(line)
        except ValueError:
            bad += 1
    return bad


def _lines(path: Path) -> int:
    try:
        return sum(1 for ln in path.read_bytes().splitlines() if ln.strip())
    except OSError:
        return 0


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def spawn(
    cmd: list[str], ctx: Context, env_unset: tuple[str, ...], out: Path, fsize: int | None = None
) -> subprocess.Popen:
    env = {k: v for k, v in ctx.env.items() if k not in env_unset}

    def limit() -> None:  # runs in the child before exec
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    out.mkdir(parents=True, exist_ok=True)
    with (out / "stdout.txt").open("wb") as so, (out / "stderr.txt").open("wb") as se:
        return subprocess.Popen(
            cmd,
            stdout=so,
            stderr=se,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            preexec_fn=limit if fsize is not None else None,
        )


def wait(proc: subprocess.Popen, deadline: float) -> tuple[int | None, bool]:
    """(exit code, hung): past the deadline the whole process group is killed."""
    try:
        rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.wait(timeout=30)
        return None, True
    _kill_group(proc)  # leftovers (workers) of a finished command
    return rc, False


def _signal_when_ready(
    proc: subprocess.Popen, watch: Path, lines: int, sig: int, deadline: float
) -> bool:
    """Send `sig` to the group once `watch` has `lines` lines; False if it ended before."""
    while time.monotonic() < deadline and proc.poll() is None:
        if _lines(watch) >= lines:
            os.killpg(proc.pid, sig)
            return True
        time.sleep(0.05)
    return False


def run_cli_case(case: Case, ctx: Context) -> CaseResult:
    start = time.monotonic()
    deadline = start + case.timeout_s
    case_dir = ctx.root / case.name
    run_dir = case_dir / "run"
    cmd = command(case, ctx, run_dir, case.argv)
    results = run_dir / "results.jsonl"
    detail, extra, lost = "", {}, 0
    before: set[tuple] = set()
    if case.pre_argv:
        pre = spawn(
            command(case, ctx, run_dir, case.pre_argv), ctx, case.env_unset, case_dir / "pre"
        )
        rc, hung = wait(pre, deadline)
        if rc != 0:
            return _result(
                case,
                ctx,
                case_dir,
                run_dir,
                rc,
                hung,
                start,
                fixture=f"the preparing run ended with {'a hang' if hung else rc}",
            )
        before = records(results)
    torn_before = unparsable_lines(results)
    fsize = None
    if case.kind == "fsize":
        fsize = results.stat().st_size + case.fsize_slack if results.exists() else case.fsize_slack
        extra["fsize_limit"] = fsize
    proc = spawn(cmd, ctx, case.env_unset, case_dir, fsize)
    if case.signal is not None:
        watch = run_dir / ("trace.jsonl" if case.argv[0] == "run" else "results.jsonl")
        sig = getattr(signal, case.signal)
        if not _signal_when_ready(proc, watch, case.signal_after_lines, sig, deadline):
            detail = f"the command ended before {case.signal} could be sent"
        extra["signalled_after_s"] = round(time.monotonic() - start, 2)
    rc, hung = wait(proc, deadline)
    if case.kind == "kill_resume":
        before = records(results)
        extra["records_before_resume"] = len(before)
        proc = spawn(cmd, ctx, case.env_unset, case_dir)  # same command: it must resume
        rc, hung = wait(proc, deadline)
    if case.kind in ("kill_resume", "fsize"):
        after = records(results)
        lost = len(before - after)
        extra["records_after"] = len(after)
        extra["unparsable_lines"] = unparsable_lines(results)
        if case.kind == "fsize" and extra["unparsable_lines"] > torn_before:
            detail = "a torn line was left in results.jsonl"
    return _result(
        case, ctx, case_dir, run_dir, rc, hung, start, detail=detail, extra=extra, lost=lost
    )


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _result(
    case: Case,
    ctx: Context,
    case_dir: Path,
    run_dir: Path,
    rc: int | None,
    hung: bool,
    start: float,
    *,
    detail: str = "",
    extra: dict | None = None,
    lost: int = 0,
    fixture: str = "",
) -> CaseResult:
    stdout, stderr = _text(case_dir / "stdout.txt"), _text(case_dir / "stderr.txt")
    observed = "fixture_failed" if fixture else classify_cli(rc, hung, stdout, stderr, run_dir)
    leaked, traceback = scan_tree(case_dir, ctx.canary)
    leaked = leaked or ctx.canary.encode() in ctx.captured(case.name)
    problems = [fixture] if fixture else []
    if detail:
        problems.append(detail)
    for rel in case.files_exist:
        if not (run_dir / rel).exists():
            problems.append(f"{rel} missing")
        elif (run_dir / rel).is_file() and (run_dir / rel).stat().st_size == 0:
            problems.append(f"{rel} empty")
    for path in case.files_absent:
        expanded = path.replace("<<fixtures>>", ctx.tokens.get("fixtures", ""))
        if Path(expanded).exists():
            problems.append(f"{expanded} exists")
    if lost:
        problems.append(f"{lost} finished record(s) lost")
    ok = observed in case.expect and not problems and not traceback and not leaked
    shown = "; ".join(problems) or first_error(stderr)
    return CaseResult(
        name=case.name,
        group=case.group,
        kind=case.kind,
        expected="|".join(case.expect),
        observed=observed,
        ok=ok,
        exit_code=rc,
        seconds=round(time.monotonic() - start, 2),
        traceback=traceback,
        leaked=leaked,
        hung=hung,
        records_lost=lost,
        detail=shown.replace(ctx.canary, "<CANARY>"),
        extra=extra or {},
    )

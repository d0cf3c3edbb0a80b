"""Docs that are executed: every shell command and Python snippet in README.md, docs/ and
examples/ is run by this module, or marked as not run with a reason.

A fenced block is code when its language is bash/sh/shell/python. The HTML comment on the line
before its fence says how it is tested:

- no marker: run in the fast suite (`make test`);
- ``<!-- doc-test: slow -->``: run in the slow suite (`make test-all`);
- ``<!-- doc-test: not run: REASON -->``: not run; `test_not_run_blocks_say_why` lists them.

Bash blocks run in a temporary directory with `saycan` and `.venv/bin/saycan` pointing at a
shim that runs `python -m saycan.cli` from this checkout with **tiny sizes** (one episode per
task, one seed of a `range` or of a sweep, 2 trials or scenes, 8 fresh affordance attempts, one
small scoring case, no video), records every call, and lets an episode that fails (exit 1)
pass: the doc promises a command that works, not an outcome. Relative output paths land in the
temporary directory. Every `saycan` command of a block that is run (fast or slow) is also
checked in the fast suite: its config composes with its overrides, without running anything. A
whole file can be marked on its first line (``<!-- doc-test: not run: REASON -->``), e.g. the
benchmarks history.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = {"bash", "sh", "shell", "python"}
MARKER = re.compile(r"<!--\s*doc-test:\s*(slow|not run:\s*(.+?))\s*-->")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
COMMAND_START = re.compile(r"^\s*(\.venv/bin/)?(saycan|make|pip|python|for|export|vllm)\b")
BLOCK_TIMEOUT_S = {"fast": 300, "slow": 3600}  # README's block: ~30 min on 2 busy cores


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    body: str
    mode: str  # fast | slow | not run
    reason: str = ""

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def doc_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return files + sorted((ROOT / "examples").rglob("*.md"))


def blocks() -> list[Block]:
    out = []
    for path in doc_files():
        text = path.read_text()
        first = MARKER.match(text.splitlines()[0]) if text else None
        for m in FENCE.finditer(text):
            line = text[: m.start()].count("\n") + 1
            before = text[: m.start()].rstrip("\n").splitlines()
            marker = MARKER.search(before[-1]) if before else None
            marker = marker or first
            if marker is None:
                mode, reason = "fast", ""
            elif marker.group(1) == "slow":
                mode, reason = "slow", ""
            else:
                mode, reason = "not run", marker.group(2).strip()
            out.append(Block(path, line, m.group(1), m.group(2), mode, reason))
    return out


def code_blocks(*modes: str) -> list[Block]:
    return [b for b in blocks() if b.lang in CODE and b.mode in modes]


# ------------------------------------------------------------------------ the shim


SHIM = r'''#!{python}
"""`saycan` for doc tests: tiny sizes, every call recorded (see tests/docs)."""
import json, re, subprocess, sys

args = sys.argv[1:]
command = args[0] if args else ""
target = args[1] if command in ("bench", "train") and len(args) > 1 else ""
keys = {{a.split("=", 1)[0] for a in args if "=" in a}}
tiny = []
for i, a in enumerate(args):
    one = lambda m: f"range({{m.group(1)}},{{int(m.group(1)) + 1}})"
    a = re.sub(r"range\((\d+),\s*\d+\)", one, a)
    a = re.sub(r"^(episodes_per_task)=\d+$", r"\1=1", a)
    a = re.sub(r"^(trials|scenes)=\d+$", r"\1=2", a)
    args[i] = a
if "--cfg" not in args:
    if command in ("eval", "calibrate") and "episodes_per_task" not in keys:
        tiny.append("episodes_per_task=1")
    if command == "eval" and ({{"-m", "--multirun"}} & set(args)) and "seed" not in keys:
        tiny.append("seed=range(100000,100001)")  # an experiment's own seed sweep, shrunk
    if command in ("run", "eval") and "video" not in keys:
        tiny += ["video=false", "frames=false"]
    if target == "primitives" and "trials" not in keys:
        tiny.append("trials=2")
    if target == "perception" and "scenes" not in keys:
        tiny.append("scenes=2")
    if target == "affordance" and "heldout_path=null" in args and "heldout_attempts" not in keys:
        tiny.append("heldout_attempts=8")
    if target == "scoring":
        tiny += ["cases=[{{name:tiny,blocks:2,bowls:1}}]", "repeats=1"]
full = [sys.executable, "-m", "saycan.cli", *args, *tiny]
proc = subprocess.run(full, capture_output=True, text=True, timeout={timeout})
sys.stdout.write(proc.stdout)
sys.stderr.write(proc.stderr)
with open({log!r}, "a") as f:
    f.write(json.dumps({{"args": full[3:], "rc": proc.returncode,
                        "stderr": proc.stderr[-1500:]}}) + "\n")
episode = command in ("run", "eval", "calibrate") and "--cfg" not in args
sys.exit(0 if proc.returncode == 0 or (episode and proc.returncode == 1) else proc.returncode)
'''


def _install_shim(workdir: Path, log: Path, timeout: int) -> dict[str, str]:
    bin_dir = workdir / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    shim = bin_dir / "saycan"
    shim.write_text(SHIM.format(python=sys.executable, log=str(log), timeout=timeout))
    shim.chmod(0o755)
    src = str(ROOT / "src")
    path = os.environ.get("PYTHONPATH", "")
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{src}:{path}" if path else src,
    }


def run_block(block: Block, tmp_path: Path) -> None:
    timeout = BLOCK_TIMEOUT_S["slow" if block.mode == "slow" else "fast"]
    log = tmp_path / "calls.jsonl"
    work = tmp_path / "work"
    work.mkdir()
    env = _install_shim(work, log, timeout)
    if block.lang == "python":
        argv = [sys.executable, "-c", block.body]
    else:
        argv = ["bash", "-e", "-o", "pipefail", "-c", block.body]
    proc = subprocess.Popen(
        argv,
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the block's saycan processes too, not only bash
        stdout, stderr = proc.communicate()
        pytest.fail(f"{block.id} ran past {timeout} s\n{stderr[-2000:]}")
    where = f"{block.id}\n--- stdout\n{stdout[-3000:]}\n--- stderr\n{stderr[-3000:]}"
    assert proc.returncode == 0, where
    assert "Traceback" not in stderr, where
    if block.lang != "python" and "saycan" in block.body:
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        assert calls, f"{block.id}: no saycan command ran"
        for call in calls:
            assert call["rc"] in (0, 1), f"{block.id}: {call}"
            assert "Traceback" not in call["stderr"], f"{block.id}: {call}"


@pytest.mark.parametrize("block", code_blocks("fast"), ids=lambda b: b.id)
def test_doc_block_runs(block, tmp_path):
    run_block(block, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("block", code_blocks("slow"), ids=lambda b: b.id)
def test_slow_doc_block_runs(block, tmp_path):
    run_block(block, tmp_path)


# ------------------------------------------------------------------------ cheap checks


def saycan_commands(block: Block) -> list[list[str]]:
    """The `saycan` command lines of a bash block (continuations joined, comments dropped)."""
    text = re.sub(r"\\\n\s*", " ", block.body)
    out = []
    for line in text.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        while words and words[0] in ("do", "then", "&&"):
            words = words[1:]
        if words and words[0] in ("saycan", ".venv/bin/saycan"):
            out.append([w for w in words[1:] if w != "&"])
    return out


def _check_composes(args: list[str]) -> str | None:
    from saycan.cli import _available, _overrides, _validate_overrides

    command, rest = args[0], args[1:]
    if command in ("tasks", "report"):
        return None
    names = {
        "run": "config",
        "eval": "eval",
        "serve-llm": "serve_llm",
        "calibrate": "calibrate",
        "serve-robot": "serve_robot",
    }
    if command in ("bench", "train"):
        if not rest or rest[0] not in _available(command):
            return f"unknown {command} target in {args}"
        config, rest = f"{command}_{rest[0]}", rest[1:]
    elif command in names:
        config = names[command]
    else:
        return f"unknown command {command!r}"
    multirun = bool({"-m", "--multirun"} & set(rest))
    overrides = [o for o in _overrides(rest) if "$" not in o]
    return _validate_overrides(config, overrides, multirun=multirun)


def test_every_command_of_a_run_block_composes():
    checked = 0
    for block in code_blocks("fast", "slow"):
        if block.lang == "python":
            continue
        for args in saycan_commands(block):
            assert _check_composes(args) is None, f"{block.id}: saycan {' '.join(args)}"
            checked += 1
    assert checked >= 20


def test_no_command_hides_in_an_unlabelled_block():
    """An untagged fence is output or a diagram; a command there would escape these tests."""
    for block in blocks():
        if block.lang in CODE or block.mode == "not run":
            continue
        for line in block.body.splitlines():
            assert not COMMAND_START.match(line), f"{block.id}: label it ```bash: {line}"


def test_not_run_blocks_say_why():
    marked = [b for b in blocks() if b.mode == "not run" and b.lang in CODE]
    assert marked
    for block in marked:
        assert len(block.reason) >= 15, f"{block.id}: the reason is too short: {block.reason!r}"
    listing = "\n".join(f"{b.id}: {b.reason}" for b in marked)
    print("documented code not run by the tests:\n" + listing)

"""What a case showed, judged only by what a user sees: exit code, stdout, stderr, files, HTTP.

Counts are kept separate from the expected outcome: a case that gives the promised exit code
but prints a traceback or the canary secret still counts in `tracebacks` / `secrets_leaked`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TRACEBACK = "Traceback (most recent call last)"
ERROR_PREFIX = "saycan: error:"
#: stderr lines printed by third-party native code at import, not by the stack: PyBullet's
#: C extension prints its build date on every import. Any other extra line breaks the promise.
BANNERS = ("pybullet build time:",)
#: A file bigger than this is scanned only in its first part (a 100 kB instruction is far below).
SCAN_BYTES = 64 * 1024 * 1024


@dataclass
class CaseResult:
    """One row of the results table."""

    name: str
    group: str
    kind: str
    expected: str
    observed: str
    ok: bool
    exit_code: int | None = None
    seconds: float = 0.0
    traceback: bool = False
    leaked: bool = False
    hung: bool = False
    records_lost: int = 0
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def stderr_lines(stderr: str) -> list[str]:
    """Non-blank stderr lines that are not third-party import banners."""
    return [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith(BANNERS)]


def last_json(stdout: str) -> dict[str, Any] | None:
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        return None
    try:
        value = json.loads(lines[-1])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def classify_cli(rc: int | None, hung: bool, stdout: str, stderr: str, run_dir: Path) -> str:
    """The outcome class a user saw; `other` when it fits no promise (see catalogue.Outcome)."""
    if hung:
        return "hang"
    lines = stderr_lines(stderr)
    if rc == 2:
        if len(lines) == 1 and lines[0].startswith(ERROR_PREFIX) and TRACEBACK not in stderr:
            return "clear_error"
        return "messy_error"
    if rc in (0, 1):
        return "runs" if last_json(stdout) is not None else "no_json"
    if rc == 130:
        episode = run_dir / "episode.json"
        try:
            data = json.loads(episode.read_text())
        except (OSError, ValueError):
            return "interrupted_no_episode"
        stopped = data.get("stopped_by") if isinstance(data, dict) else None
        return "interrupted" if stopped == "interrupted" else "interrupted_wrong_episode"
    return f"exit_{rc}"


def scan_tree(root: Path, canary: str) -> tuple[bool, bool]:
    """(canary found, traceback found) in any regular file under `root`."""
    leaked = traceback = False
    needle, tb = canary.encode(), TRACEBACK.encode()
    if not root.exists():
        return False, False
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            try:
                if not path.is_file():
                    continue
                with path.open("rb") as f:
                    data = f.read(SCAN_BYTES)
            except OSError:
                continue
            leaked = leaked or needle in data
            traceback = traceback or tb in data
    return leaked, traceback


def first_error(stderr: str, limit: int = 200) -> str:
    """The line worth showing in the table: the error line, else the last stderr line."""
    lines = stderr_lines(stderr)
    chosen = next((ln for ln in lines if ln.startswith(ERROR_PREFIX)), lines[-1] if lines else "")
    return chosen if len(chosen) <= limit else chosen[: limit - 3] + "..."

"""`safety.confirm=true` with nobody at the terminal is an error naming the way out (as asking
for help is), never a silent "no" that reads like an operator's refusal."""

from __future__ import annotations

import subprocess
import sys

import pytest

from saycan.errors import NoOperatorError
from saycan.skills.safety import SafetyGate
from saycan.skills.types import SkillCall

CALL = SkillCall("pick_and_place", ("red block", "blue bowl"))


def test_end_of_input_raises_instead_of_declining(monkeypatch):
    def closed(prompt):
        raise EOFError

    monkeypatch.setattr("builtins.input", closed)
    with pytest.raises(NoOperatorError, match=r"stdin is closed.*safety.confirm=false"):
        SafetyGate(confirm=True).check_skill(CALL)


def test_cli_without_terminal_exits_2_with_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "saycan.cli",
            "run",
            "robot=mock",
            "planner=oracle",
            "safety.confirm=true",
            "video=false",
            "frames=false",
            "quiet=true",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2, proc.stdout[-1000:] + proc.stderr[-1000:]
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("saycan: error:")]
    assert len(errors) == 1 and "safety.confirm=true asked the operator" in errors[0]

"""docs/BENCHMARKS.md leads with the current figures: one table per area, each row with the
command that printed it and its date; the history lives in docs/history/, and new dated
sections have an obvious place at the end."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from saycan.cli import _available

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "BENCHMARKS.md"
HISTORY = ROOT / "docs" / "history" / "benchmarks-history.md"
NEW = "## New measurements"
COMMANDS = {
    "run",
    "eval",
    "bench",
    "train",
    "calibrate",
    "report",
    "tasks",
    "serve-llm",
    "serve-robot",
}


def _areas() -> dict[str, str]:
    text = PAGE.read_text()
    assert NEW in text, "the place for new dated sections is gone"
    current = text[: text.index(NEW)]
    parts = re.split(r"^## ", current, flags=re.M)[1:]
    return {p.splitlines()[0]: p for p in parts}


def _rows(body: str) -> list[list[str]]:
    lines = [line for line in body.splitlines() if line.startswith("|")]
    assert lines and lines[0].replace(" ", "") == "|figure|value|command|date|", lines[:1]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]


def test_every_area_is_one_table_of_figures_with_command_and_date():
    areas = _areas()
    assert len(areas) >= 7, list(areas)
    for name, body in areas.items():
        rows = _rows(body)
        assert rows, name
        for figure, value, command, date in rows:
            assert figure and value, (name, figure)
            assert re.fullmatch(r"20\d\d-\d\d-\d\d", date), (name, figure, date)
            assert (
                "saycan" in command
                or "pytest" in command
                or command.startswith(("the same", "as above"))
            ), (name, figure, command)


def test_commands_in_the_tables_name_real_subcommands_and_benchmarks():
    benches = set(_available("bench"))
    for body in _areas().values():
        for match in re.finditer(r"`saycan ([\w-]+)(?: (\w+))?", body):
            command, target = match.groups()
            assert command in COMMANDS, match.group(0)
            if command == "bench":
                assert target in benches, match.group(0)


def test_commands_in_the_tables_compose_with_todays_configs():
    """A figure's command must still be one the stack accepts (config checked, nothing run)."""
    from saycan.cli import _overrides, _validate_overrides

    configs = {"run": "config", "eval": "eval", "calibrate": "calibrate"}
    checked = 0
    for body in _areas().values():
        for match in re.finditer(r"`saycan ([^`<]+)`", body):
            words = shlex.split(match.group(1))
            command, rest = words[0], words[1:]
            if command == "bench":
                config, rest = f"bench_{rest[0]}", rest[1:]
            elif command in configs:
                config = configs[command]
            else:
                continue
            multirun = bool({"-m", "--multirun"} & set(rest))
            problem = _validate_overrides(config, _overrides(rest), multirun=multirun)
            assert problem is None, f"saycan {match.group(1)}: {problem}"
            checked += 1
    assert checked >= 15


def test_history_holds_the_past_and_every_pointer_resolves():
    assert HISTORY.is_file()
    headings = {h.strip() for h in re.findall(r"^#+ (.+)$", HISTORY.read_text(), flags=re.M)}
    pointers = re.findall(r'History: "([^"]+)"', PAGE.read_text())
    assert pointers
    for name in pointers:
        assert name in headings, name
    assert len(PAGE.read_text().splitlines()) < 200  # the current figures stay easy to find


def test_gpu_page_is_marked_not_runnable_and_names_the_command_of_each_figure():
    text = (ROOT / "docs" / "gpu.md").read_text()
    assert "**Not runnable here.**" in text
    fences = re.findall(r"^([^\n]*)\n```(\w+)\n(.*?)^```", text, flags=re.M | re.S)
    assert fences
    for before, _lang, _body in fences:
        assert before.startswith("<!-- doc-test: not run:"), before
    joined = [re.sub(r"\\\n\s*", " ", body) for _, _, body in fences]  # continuation lines
    figures = [line for body in joined for line in body.splitlines() if "# figure:" in line]
    assert len(figures) >= 4
    assert all("saycan " in line for line in figures), figures
    for topic in ("llm.device", "llm.dtype", "saycan train planner", "--index-url"):
        assert topic in text, topic
    assert "docs/gpu.md" in PAGE.read_text()

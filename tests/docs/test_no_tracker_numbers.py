"""Docs and comments say what a thing is, never a tracker number ("issue 7") that means nothing
outside this repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATTERN = re.compile(r"\bissues?\s*#?\d+|\bissue\d+", re.I)
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".txt", ".cfg", ".html", ".js", ".css"}


def _files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "Makefile", ROOT / "pyproject.toml"]
    for top in ("src", "docs", "examples", "tests"):
        files += [p for p in (ROOT / top).rglob("*") if p.suffix in SUFFIXES and p.is_file()]
    return files


def test_no_tracker_numbers_in_docs_code_or_configs():
    found = []
    for path in _files():
        if path.resolve() == Path(__file__).resolve():  # this file names the pattern
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if PATTERN.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:80]}")
    assert not found, "\n".join(found)

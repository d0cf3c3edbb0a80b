"""Training sits beside evaluation, not above it: nothing in `saycan.train` imports
`saycan.eval` (at module level or inside a function), so the two never import each other.
What both need (task-name expansion, scoring a perception backend) lives below them."""

from __future__ import annotations

import ast
from pathlib import Path

import saycan.train

TRAIN = Path(saycan.train.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_training_never_imports_evaluation():
    files = sorted(TRAIN.rglob("*.py"))
    assert len(files) >= 5  # the scan sees the package
    offenders = {
        str(f.relative_to(TRAIN)): sorted(
            m for m in _imported_modules(f) if m == "saycan.eval" or m.startswith("saycan.eval.")
        )
        for f in files
    }
    assert {f: m for f, m in offenders.items() if m} == {}

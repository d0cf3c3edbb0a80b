"""An installed (non-editable) saycan carries its data: the task files, the independent sets,
configs and assets. setuptools puts into the wheel only the non-Python files that
`[tool.setuptools.package-data]` names, so every such file in the package must match one of its
patterns (the task files did not: a wheel install knew no task)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import saycan

PACKAGE = Path(saycan.__file__).parent
PYPROJECT = PACKAGE.parent.parent / "pyproject.toml"


def test_every_data_file_of_the_package_is_named_by_package_data():
    # read by hand: tomllib is 3.11+, and the project supports 3.10
    section = PYPROJECT.read_text("utf-8").split("[tool.setuptools.package-data]")[1]
    patterns = json.loads(re.search(r"^saycan = (\[.*\])$", section, re.M).group(1))
    shipped = {p for pattern in patterns for p in PACKAGE.glob(pattern) if p.is_file()}
    data = {
        p
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in {".py", ".pyc"} and "__pycache__" not in p.parts
    }
    assert len(data) > 250  # tasks, both independent sets, configs, the adapter, the pool
    assert sorted(str(p.relative_to(PACKAGE)) for p in data - shipped) == []

"""Task file paths: the working directory first, then the repository's examples/, and the error
lists every place looked at (a documented `task=examples/tasks/...` works from any directory)."""

from __future__ import annotations

import pytest

from saycan.errors import UnknownTaskError
from saycan.sim.tasks.spec import EXAMPLES_DIR, load_task


@pytest.mark.parametrize(
    "given",
    ["examples/tasks/banana_in_bowl.yaml", "tasks/banana_in_bowl.yaml", "banana_in_bowl.yaml"],
)
def test_example_task_loads_from_any_directory(given, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = load_task(given)
    assert spec == load_task(EXAMPLES_DIR / "tasks" / "banana_in_bowl.yaml")


def test_working_directory_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tasks").mkdir()
    text = (EXAMPLES_DIR / "tasks" / "banana_in_bowl.yaml").read_text()
    changed = text.replace("max_steps: ", "max_steps: 1 # was ")
    (tmp_path / "tasks" / "banana_in_bowl.yaml").write_text(changed)
    assert load_task("tasks/banana_in_bowl.yaml").max_steps == 1


def test_missing_task_file_lists_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnknownTaskError) as err:
        load_task("nowhere/my_task.yaml")
    msg = str(err.value)
    assert "'nowhere/my_task.yaml' not found; looked in:" in msg
    assert f"{tmp_path / 'nowhere' / 'my_task.yaml'} (working directory)" in msg
    assert str(EXAMPLES_DIR / "nowhere" / "my_task.yaml") in msg
    assert str(EXAMPLES_DIR / "tasks" / "nowhere" / "my_task.yaml") in msg

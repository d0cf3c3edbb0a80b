"""The Python API refuses the step budgets and splits the CLI refuses: `max_steps=0` is an
error, not "the task's default", and a bad split is a typed error, not a ValueError."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from saycan.errors import ConfigError
from saycan.runtime.components import Components
from saycan.runtime.episode import run_episode


@pytest.fixture(scope="module")
def components():
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("config", overrides=["planner=oracle", "executor=teleport"])
    built = Components(cfg)
    yield built
    built.close()


@pytest.mark.parametrize("max_steps", [0, -1, True, 2.0, "3"])
def test_bad_step_budget_is_refused(components, tmp_path: Path, max_steps):
    with pytest.raises(ConfigError) as info:
        run_episode(
            components,
            "put_block_in_bowl",
            0,
            tmp_path,
            max_steps=max_steps,
            video=False,
            frames=False,
        )
    assert str(info.value) == f"max_steps must be null or an integer >= 1, got {max_steps!r}"


def test_a_step_budget_of_one_is_one_step(components, tmp_path: Path):
    result = run_episode(
        components, "put_block_in_bowl", 0, tmp_path, max_steps=1, video=False, frames=False
    )
    assert (result.steps, result.stopped_by) == (1, "max_steps")


def test_bad_split_is_a_config_error(components, tmp_path: Path):
    with pytest.raises(ConfigError) as info:
        run_episode(
            components, "put_block_in_bowl", 0, tmp_path, split="bogus", video=False, frames=False
        )
    assert str(info.value) == (
        "split must be one of ['seen', 'unseen', 'unseen_colours', 'independent'], got 'bogus'"
    )

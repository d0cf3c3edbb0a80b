"""Every config group option composes and points at an importable target; unknown keys fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from hydra.utils import get_object
from omegaconf import OmegaConf

import saycan.configs

CONFIG_DIR = Path(saycan.configs.__file__).parent
# experiment/ (global-package sweeps of `eval`) and hydra/launcher/ are checked in
# tests/eval/test_sweep.py.
GROUPS = sorted(
    p.name
    for p in CONFIG_DIR.iterdir()
    if p.is_dir() and not p.name.startswith("_") and p.name not in ("experiment", "hydra")
)


def _options():
    for group in GROUPS:
        for f in sorted((CONFIG_DIR / group).glob("*.yaml")):
            yield group, f.stem


def _targets(node):
    if OmegaConf.is_dict(node):
        if "_target_" in node:
            yield node["_target_"]
        for key in node:
            yield from _targets(node._get_node(key))
    elif OmegaConf.is_list(node):
        for item in node:
            yield from _targets(item)


@pytest.mark.parametrize(("group", "option"), list(_options()))
def test_every_group_option_composes_and_its_targets_import(group, option):
    overrides = [f"{group}={option}"]
    if (group, option) == ("llm", "hf"):
        overrides.append("llm.model=some/model")
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    targets = list(_targets(cfg[group]))
    assert targets, f"{group}/{option} builds nothing"
    for target in targets:
        assert callable(get_object(target)), target


@pytest.mark.parametrize("config_name", ["config", "eval"])
def test_top_level_configs_compose(config_name):
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(config_name)
    assert cfg.task == "put_block_in_bowl"
    assert list(_targets(cfg))


def test_unknown_key_is_refused():
    with initialize_config_module("saycan.configs", version_base="1.3"):
        with pytest.raises(ConfigCompositionException):
            compose("config", overrides=["no_such_key=1"])

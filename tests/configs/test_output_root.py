"""One output root: every command's run and sweep directories are under runs/ (none under
Hydra's default outputs/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import saycan.configs

PRIMARY = sorted(p.stem for p in Path(saycan.configs.__file__).parent.glob("*.yaml"))


@pytest.mark.parametrize("config", PRIMARY)
def test_every_command_writes_under_runs(config):
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(config, return_hydra_config=True)
    dirs = OmegaConf.to_container(cfg.hydra, resolve=False)
    assert str(dirs["run"]["dir"]).startswith("runs/"), dirs["run"]["dir"]
    assert str(dirs["sweep"]["dir"]).startswith("runs/"), dirs["sweep"]["dir"]


def test_the_perception_commands_are_among_them():
    assert {"train_perception", "bench_perception", "serve_llm", "config", "eval"} <= set(PRIMARY)

"""The simulator renders the camera only when something reads it: oracle episodes skip the
render (cost) unless frames are saved for the viewer; camera backends always get RGB-D."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module

from saycan.runtime.components import Components
from saycan.runtime.episode import begin_episode
from saycan.sim.tasks import Task


def _components(perception: str) -> Components:
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(
            "eval", overrides=["planner=oracle", "executor=teleport", f"perception={perception}"]
        )
    return Components(cfg)


@pytest.mark.parametrize(
    "perception, frames, rendered",
    [
        ("oracle", False, False),
        ("oracle", True, True),
        ("segmenter", False, True),
    ],
)
def test_observations_carry_images_only_when_something_reads_them(
    perception: str, frames: bool, rendered: bool
):
    components = _components(perception)
    try:
        begin_episode(components, Task("put_block_in_bowl"), 100000, frames=frames)
        obs = components.driver.get_observation()
        assert (obs.rgb is not None and obs.depth is not None) is rendered
        assert obs.ground_truth and obs.camera is not None
        scene = components.perception.perceive(obs)
        assert sorted(o.name for o in scene.objects) == sorted(s.name for s in obs.ground_truth)
    finally:
        components.close()

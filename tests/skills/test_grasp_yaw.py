"""Grasp / release yaw: the fingers close along the axis that keeps them clear of neighbours."""

from __future__ import annotations

import math

import numpy as np
import pytest

from saycan.drivers.types import TOP_DOWN
from saycan.perception.scene import SceneObject
from saycan.sim.env import TabletopEnv
from saycan.sim.scene_spec import ObjectSpec
from saycan.skills.primitives import (
    PrimitiveParams,
    choose_orientation,
    finger_axis,
    pick,
    pick_and_place,
)
from saycan.skills.types import SkillCall

BOWL = (0.04 * 3.65, 0.04 * 3.65, 0.04)  # about a bowl's bounding box


def _along(orientation) -> str:
    ax, ay = finger_axis(orientation)
    return "x" if abs(ax) > abs(ay) else "y"


def test_default_yaw_without_neighbours():
    p = PrimitiveParams()
    assert choose_orientation(p, (0.45, 0.0, 0.02), ()) == TOP_DOWN
    assert _along(TOP_DOWN) == "y"
    # A far neighbour (or the target under the release point) keeps the default yaw.
    assert choose_orientation(p, (0.45, 0.0, 0.02), [((0.45, 0.3, 0.02), BOWL)]) == TOP_DOWN
    assert choose_orientation(p, (0.45, 0.0, 0.02), [((0.45, 0.0, 0.02), BOWL)]) == TOP_DOWN


@pytest.mark.parametrize("bowl_xy, expected", [((0.45, 0.123), "x"), ((0.573, 0.0), "y")])
def test_fingers_avoid_a_close_neighbour(bowl_xy, expected):
    orn = choose_orientation(PrimitiveParams(), (0.45, 0.0, 0.02), [((*bowl_xy, 0.02), BOWL)])
    assert _along(orn) == expected
    assert math.isclose(float(np.linalg.norm(orn)), 1.0, rel_tol=1e-9)


def test_pick_next_to_a_bowl_grasps_along_the_other_axis():
    """A bowl 12.3 cm from the block along the default finger axis (world y): the block is
    grasped with the fingers along x, the pick succeeds and the bowl is not touched."""
    env = TabletopEnv(camera_width=32, camera_height=24)
    try:
        objects = (
            ObjectSpec("red block", "block", "red", (0.45, 0.0)),
            ObjectSpec("blue bowl", "bowl", "blue", (0.45, 0.123)),
        )
        env.reset(seed=0, options={"objects": objects})
        states = {s.name: s for s in env.object_states()}
        block, bowl = states["red block"], states["blue bowl"]
        obstacles = [(bowl.position, bowl.size)]
        res = pick(env.motion, block.position, block.size, obstacles=obstacles)
        assert res.success, res.message
        assert env.motion.held is not None
        _, orn = env.motion.robot.ee_pose()
        assert _along(tuple(orn)) == "x"
        after = {s.name: s for s in env.object_states()}
        assert np.linalg.norm(np.subtract(after["blue bowl"].position, bowl.position)) < 0.005
        assert after["red block"].position[2] > block.position[2] + 0.1  # lifted

        # And the whole skill (pick, place at a free spot) with the same neighbour.
        env.reset(seed=0, options={"objects": objects})
        states = {s.name: s for s in env.object_states()}
        block = states["red block"]
        res = pick_and_place(
            env.motion,
            SceneObject(block.name, block.category, block.colour, block.position, block.size),
            (0.45, -0.15, 0.0),
            SkillCall("pick_and_place", ("red block", "table")),
            obstacles=[(s.position, s.size) for s in states.values()],
        )
        assert res.success, res.message
        after = {s.name: s for s in env.object_states()}
        assert np.linalg.norm(np.subtract(after["blue bowl"].position, bowl.position)) < 0.005
        assert (
            np.hypot(after["red block"].position[0] - 0.45, after["red block"].position[1] + 0.15)
            < 0.03
        )
    finally:
        env.close()

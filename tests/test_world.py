"""Places as the robot sees them agree with where the robot's arm actually stands."""

from __future__ import annotations

import numpy as np

from saycan.sim.robots import panda, xarm6
from saycan.world import LOCATIONS, ROBOT_XY, ZONES, place_seen_from_robot, xy_distance


def test_near_places_are_nearer_every_robot_base_than_far_ones():
    bases = [ROBOT_XY, panda.CONFIG.base_position[:2], xarm6.CONFIG.base_position[:2]]
    for base in bases:
        dist = {n: xy_distance(xy, base) for n, xy in LOCATIONS.items()}
        near = [d for n, d in dist.items() if place_seen_from_robot(n)[0] == "near"]
        far = [d for n, d in dist.items() if place_seen_from_robot(n)[0] == "far"]
        level = [d for n, d in dist.items() if place_seen_from_robot(n)[0] == ""]
        assert near and far and max(near) < min(level) <= max(level) < min(far)


def test_left_is_the_robots_left_facing_the_table():
    # The robot faces +x; its left hand points to +y (a right-handed frame, z up).
    forward, up = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0])
    left = np.cross(up, forward)
    for name in (*LOCATIONS, *(z for z in ZONES if z.endswith(" side"))):
        _, lateral = place_seen_from_robot(name)
        centre = (
            LOCATIONS[name][:2] if name in LOCATIONS else tuple((a + b) / 2 for a, b in ZONES[name])
        )
        side = float(np.dot(left[:2], np.asarray(centre) - np.asarray(ROBOT_XY)))
        assert lateral == ("left" if side > 0 else "right" if side < 0 else "")
        assert ("left" in name) == (lateral == "left")
        assert ("right" in name) == (lateral == "right")


def test_top_places_are_far_and_bottom_places_near():
    for name in (*LOCATIONS, "top side", "bottom side"):
        depth, _ = place_seen_from_robot(name)
        assert depth == ("far" if "top" in name else "near" if "bottom" in name else "")

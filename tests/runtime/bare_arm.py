"""A driver the way docs/drivers.md tells a real-arm author to write one: the `RobotDriver`
contract and nothing else. No scene reset, no ground truth, no video, no teleport.

Underneath it drives a private PyBullet tabletop (the only arm this machine has); the runner
cannot reach that world. Tests read it afterwards, as a person would look at the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from saycan.drivers.types import Observation
from saycan.errors import DisconnectedError, DriverError
from saycan.sim.env import TabletopEnv
from saycan.sim.scene_spec import ObjectSpec

#: What is on the table unless a test says otherwise.
TABLE = (
    ObjectSpec("red block", "block", "red", (0.45, 0.12)),
    ObjectSpec("green block", "block", "green", (0.55, -0.02)),
    ObjectSpec("blue bowl", "bowl", "blue", (0.50, -0.20)),
)


class BareArm:
    """`RobotDriver` only; `lose_link_after`: the link drops after that many observations."""

    is_physical = False

    def __init__(
        self, objects: Sequence[ObjectSpec] = TABLE, lose_link_after: int | None = None
    ) -> None:
        self.name = "bare-arm"
        self._env = TabletopEnv(camera_width=320, camera_height=240)
        self._env.reset(seed=0, options={"objects": list(objects)})  # "the table as it is"
        self._connected = False
        self._observations = 0
        self._lose_link_after = lose_link_after

    @property
    def is_connected(self) -> bool:
        return self._connected

    @property
    def motion(self):
        return self._env.motion

    def connect(self) -> None:
        self._connected = True

    def disconnect(self) -> None:
        self._connected = False

    def get_observation(self) -> Observation:
        if not self._connected:
            raise DriverError("bare-arm is not connected")
        self._observations += 1
        if self._lose_link_after is not None and self._observations > self._lose_link_after:
            raise DisconnectedError("bare-arm: the controller stopped answering")
        return replace(self._env.observation(render=True), ground_truth=None)

    def world(self) -> dict:
        """What is really on the table (for the test's own check, never for the stack)."""
        return {s.name: s for s in self._env.object_states()}

    def close_world(self) -> None:
        self._env.close()

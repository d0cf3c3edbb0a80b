"""`PyBulletDriver`: the `RobotDriver` contract over a `TabletopEnv` (simulation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from saycan.drivers.types import ObjectState, Observation
from saycan.errors import DriverError, MotionHalted
from saycan.sim.scene_spec import ObjectSpec

if TYPE_CHECKING:
    from saycan.drivers.types import Workcell


class PyBulletDriver:
    """A simulated Panda (or another `RobotConfig`) on the tabletop.

    Construct it with an existing env (`PyBulletDriver(env=...)`) or with `TabletopEnv` keyword
    arguments (what the Hydra `robot` config passes). The env is created by `connect()` (or on
    first use) and closed by `disconnect()`; both are idempotent.
    """

    is_physical = False

    def __init__(self, env: Any = None, *, name: str | None = None, **env_kwargs: Any) -> None:
        self._env = env
        self._owns_env = env is None
        self._env_kwargs = env_kwargs
        robot = env_kwargs.get("robot", "panda")
        self.name = name or f"pybullet-{robot if isinstance(robot, str) else robot.name}"
        self._connected = env is not None
        self._render_images = True
        self._halt_requested = False
        if env is not None:
            env.motion.step_hooks.append(self._halt_hook)

    # -- connection -------------------------------------------------------------------------
    @property
    def is_connected(self) -> bool:
        return self._connected

    def connect(self) -> None:
        if self._connected:
            return
        if self._env is None:
            from saycan.sim.env import TabletopEnv  # pybullet only when a simulator is used

            self._env = TabletopEnv(**self._env_kwargs)
            self._env.reset(seed=0)
            self._env.motion.step_hooks.append(self._halt_hook)
        self._connected = True

    def disconnect(self) -> None:
        if not self._connected:
            return
        if self._owns_env and self._env is not None:
            self._env.close()
            self._env = None
        self._connected = False

    @property
    def env(self):
        """The underlying `TabletopEnv` (connects on first use)."""
        if not self._connected:
            self.connect()
        return self._env

    # -- RobotDriver ------------------------------------------------------------------------
    @property
    def motion(self):
        return self.env.motion

    @property
    def workcell(self) -> Workcell:
        """The tabletop's cell (`saycan.sim.cell`): the safety gate never sends a target
        outside it, whatever workspace is configured."""
        from saycan.sim.cell import TABLETOP_CELL

        return TABLETOP_CELL

    def get_observation(self) -> Observation:
        if not self._connected:
            raise DriverError(f"{self.name} is not connected; call connect() first")
        return self._env.observation(render=self._render_images)

    def set_render_images(self, render: bool) -> None:
        """Render the RGB-D camera with each observation (the default), or leave `rgb` and
        `depth` None when nothing reads them: oracle perception reads ground truth, and a
        320x240 render costs about 44 ms (docs/BENCHMARKS.md: episode cost)."""
        self._render_images = bool(render)

    # -- Haltable (saycan.drivers.base): a robot host's e-stop --------------------------------
    #: Physics steps the arm brakes for when halted (a quarter of a simulated second).
    HALT_STEPS = 60

    def halt(self) -> None:
        """Stop the arm at the next physics step of the motion in progress (thread-safe: it
        only raises a flag; the stepping thread does the stop). An idle simulated arm is not
        stepped, so it is already still."""
        self._halt_requested = True

    def clear_halt(self) -> None:
        self._halt_requested = False

    def _halt_hook(self, step: int) -> None:
        if not self._halt_requested:
            return
        self._halt_requested = False  # hold() steps physics, which runs this hook again
        before = float(abs(self._env.robot.arm_velocities()).max())
        speed = self._env.motion.hold(self.HALT_STEPS)
        raise MotionHalted(f"motion halted at step {step}", joint_speed=speed, speed_before=before)

    # -- SimulatorExtras (saycan.drivers.base) ----------------------------------------------
    def reset_scene(
        self, objects: Sequence[ObjectSpec], *, seed: int, record_video: bool = False
    ) -> None:
        """Rebuild the world with `objects` placed; the env's generator is seeded with `seed`."""
        self.env.reset(seed=seed, options={"objects": list(objects), "record_video": record_video})

    def ground_truth(self) -> tuple[ObjectState, ...]:
        return self.env.object_states()

    def video_frames(self) -> list[np.ndarray]:
        return list(self._env.frames) if self._env is not None else []

    def teleport_object(self, name: str, position: tuple[float, float, float]) -> int:
        return self.env.teleport_object(name, position)

    def set_disturbance(self, disturbance: Any) -> None:
        """Perturb episodes with `disturbance` (`saycan.sim.disturbance`; None: no disturbance),
        from the next reset on."""
        self.env.disturbance = disturbance

    def disturb(self, carried: str | None) -> list[dict]:
        """After a skill ran: what the disturbance did (one dict per event, for the trace)."""
        return [e.to_dict() for e in self.env.disturb(carried)]

    def __enter__(self) -> PyBulletDriver:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

"""`TabletopEnv`: a Panda, a table, procedural blocks and bowls, a top-down RGB-D camera.

Two faces: the gymnasium API (a low-level end-effector action, for RL and `check_env`) and the
helpers the SayCan stack uses (`motion`, `object_states()`, `observation()`, video frames).
Each env owns its PyBullet client; every random choice comes from `self.np_random`, and a
reset rebuilds the world from scratch, so a seed fixes the episode bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pybullet
from gymnasium import spaces

from saycan.drivers.types import TOP_DOWN, MotionStatus, ObjectState, Observation, Pose
from saycan.sim import objects as objs
from saycan.sim.bullet_client import QuietBulletClient
from saycan.sim.camera import TOP_DOWN_CAMERA, VIDEO_CAMERA, Camera
from saycan.sim.layout import default_scene
from saycan.sim.motion import MotionParams, SimMotion
from saycan.sim.robots.base import RobotConfig, SimRobot, load_robot_config
from saycan.sim.scene_spec import WORKSPACE_X, WORKSPACE_Y, ObjectSpec
from saycan.world import BLOCK_SIZE, BOWL_FLOOR, BOWL_HEIGHT, CONTROL_HZ

#: Action box margin beyond the workspace (m) and the highest end-effector target.
ACTION_MARGIN = 0.05
ACTION_Z = (0.0, 0.40)
#: End-effector height at which an episode that starts holding a block holds it.
HELD_LIFT_Z = 0.22


class TabletopEnv(gym.Env):
    """Tabletop pick-and-place world.

    Gym action: 4 numbers in [-1, 1]: the end-effector target (x, y, z), scaled onto the
    workspace box (`target_low`..`target_high`), and the gripper (> 0 closes). Each `step`
    servoes toward the target for `substeps` physics steps. Reward is 0 (SayCan judges
    episodes with task predicates, not rewards).
    """

    metadata = {"render_modes": ["human", "rgb_array"], "render_fps": 5}

    def __init__(
        self,
        render_mode: str | None = None,
        task: Any = None,
        robot: str | RobotConfig = "panda",
        camera_width: int = 320,
        camera_height: int = 240,
        record_video: bool = False,
        video_every_n_steps: int = 48,  # 5 frames per simulated second (a frame costs ~50 ms)
        video_width: int = 320,
        video_height: int = 240,
        max_episode_steps: int = 200,
        substeps: int = 24,
        settle_steps: int = 120,
        motion_params: MotionParams | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.task = task
        self.record_video = bool(record_video)
        self.video_every_n_steps = int(video_every_n_steps)
        self.max_episode_steps = int(max_episode_steps)
        self.substeps = int(substeps)
        self.settle_steps = int(settle_steps)
        self.camera = Camera(TOP_DOWN_CAMERA, width=camera_width, height=camera_height)
        self.video_camera = Camera(VIDEO_CAMERA, width=video_width, height=video_height)
        mode = pybullet.GUI if render_mode == "human" else pybullet.DIRECT
        self.client = QuietBulletClient(connection_mode=mode)
        self.robot_config = load_robot_config(robot)
        self._setup_world()
        self.robot = SimRobot(self.client, self.robot_config)
        self.motion = SimMotion(self.robot, motion_params)
        self.motion.step_hooks.append(self._capture_hook)
        self.motion.step_hooks.append(self._disturbance_hook)
        self.disturbance: Any = None  # a `saycan.sim.disturbance.Disturbance`, or None
        self._disturbance_live = False  # not during reset: the world is still being built
        self.frames: list[np.ndarray] = []
        self.bodies: dict[str, int] = {}
        self.specs: dict[str, ObjectSpec] = {}
        self.task_instance: Any = None
        self._elapsed = 0
        self._closed = False

        n = len(self.robot_config.arm_joints)
        lo, hi = self.robot.lower.astype(np.float32), self.robot.upper.astype(np.float32)
        # Normalised action in [-1, 1]^4, mapped linearly onto the target box below.
        self.target_low = np.array(
            [WORKSPACE_X[0] - ACTION_MARGIN, WORKSPACE_Y[0] - ACTION_MARGIN, ACTION_Z[0]]
        )
        self.target_high = np.array(
            [WORKSPACE_X[1] + ACTION_MARGIN, WORKSPACE_Y[1] + ACTION_MARGIN, ACTION_Z[1]]
        )
        self.action_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
        h, w = camera_height, camera_width
        self.observation_space = spaces.Dict(
            {
                "rgb": spaces.Box(0, 255, (h, w, 3), np.uint8),
                "depth": spaces.Box(0.0, float(self.camera.config.far), (h, w), np.float32),
                "joints": spaces.Box(lo - 0.05, hi + 0.05, (n,), np.float32),
                "gripper_width": spaces.Box(-0.01, 0.2, (1,), np.float32),
                "ee_position": spaces.Box(-2.0, 2.0, (3,), np.float32),
            }
        )

    # -- world building ---------------------------------------------------------------------
    def _setup_world(self) -> None:
        c = self.client
        c.resetSimulation()
        c.setPhysicsEngineParameter(
            fixedTimeStep=1.0 / CONTROL_HZ, numSolverIterations=100, deterministicOverlappingPairs=1
        )
        c.setGravity(0.0, 0.0, -9.81)
        if self.render_mode == "human":
            c.configureDebugVisualizer(c.COV_ENABLE_GUI, 0)
        objs.create_floor(c)
        objs.create_table(c)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Rebuild the world: table, robot at home, objects (from `options["objects"]`, the
        task, or a random default scene), then let them settle."""
        super().reset(seed=seed)
        options = options or {}
        self._disturbance_live = False
        if "record_video" in options:
            self.record_video = bool(options["record_video"])
        info: dict[str, Any] = {}
        self.task_instance = None
        if options.get("objects") is not None:
            specs = list(options["objects"])
        elif self.task is not None:
            self.task_instance = self.task.sample(self.np_random)
            specs = list(self.task_instance.objects)
            info["instruction"] = self.task_instance.instruction
            info["task_instance"] = self.task_instance
        else:
            specs = default_scene(self.np_random)

        self._setup_world()
        self.robot.spawn()
        self.motion.reset_state()
        self.frames = []
        self._elapsed = 0
        self._build_objects(specs)
        self._capture_frame()
        self.motion.step(self.settle_steps)
        for spec in specs:
            if spec.held:
                self._grasp_at_reset(spec.name)
        info["objects"] = self.object_states()
        if self.disturbance is not None:
            self.disturbance.reset(self)
            self._disturbance_live = True
        return self._gym_obs(), info

    def _build_objects(self, specs: Sequence[ObjectSpec]) -> None:
        self.bodies, self.specs = {}, {}
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"object names must be unique: {names}")
        pending = list(specs)
        top: dict[str, float] = {}  # name -> z of the surface an object placed on it rests on
        xy: dict[str, tuple[float, float]] = {}
        while pending:
            ready = [s for s in pending if s.on is None or s.on in top]
            if not ready:
                missing = {s.on for s in pending} - set(names)
                raise ValueError(
                    f"unknown or cyclic supports: {missing or [s.on for s in pending]}"
                )
            for s in ready:
                pending.remove(s)
                if s.category not in ("block", "bowl"):
                    raise ValueError(f"unknown category {s.category!r} for {s.name}")
                base_z = 0.0 if s.on is None else top[s.on]
                x, y = s.xy if s.on is None else xy[s.on]
                size_z = objs.object_size(s.category)[2]
                pos = (float(x), float(y), base_z + size_z / 2 + (0.0005 if s.on else 0.0))
                if s.category == "block":
                    body = objs.create_block(self.client, pos, s.colour)
                    top[s.name] = pos[2] + BLOCK_SIZE / 2
                else:
                    body = objs.create_bowl(self.client, pos, s.colour)
                    top[s.name] = pos[2] - BOWL_HEIGHT / 2 + BOWL_FLOOR
                xy[s.name] = (float(x), float(y))
                self.bodies[s.name] = body
                self.specs[s.name] = s
        # Keep the caller's order (stable ground-truth ordering).
        self.bodies = {n: self.bodies[n] for n in names}

    def _grasp_at_reset(self, name: str) -> None:
        """Start the episode holding `name`: a real top-down grasp where it was built (open,
        descend, close, lift to `HELD_LIFT_Z`); the block stays held by friction alone."""
        if self.motion.held is not None:
            raise ValueError(
                f"the gripper already holds something; cannot also start holding {name}"
            )
        body = self.bodies[name]
        m = self.motion
        x, y, z = self.client.getBasePositionAndOrientation(body)[0]
        moves = []
        m.set_gripper(False)
        for target in ((x, y, z + 0.10), (x, y, z)):
            moves.append(m.move_to_pose(Pose((x, y, target[2]), TOP_DOWN), max_steps=2000))
        m.set_gripper(True)
        moves.append(m.move_to_pose(Pose((x, y, HELD_LIFT_Z), TOP_DOWN), max_steps=2000))
        m.set_gripper(True, max_steps=40)  # re-check the grip after lifting
        if m.held != body or any(r.status != MotionStatus.OK for r in moves):
            what = [r.status.value for r in moves]
            raise RuntimeError(
                f"could not start the episode holding {name} (moves {what}, held {m.held})"
            )

    # -- ground truth and observations --------------------------------------------------------
    def object_states(self) -> tuple[ObjectState, ...]:
        """Ground-truth state of every object, in build order."""
        out = []
        for name, body in self.bodies.items():
            spec = self.specs[name]
            pos, orn = self.client.getBasePositionAndOrientation(body)
            out.append(
                ObjectState(
                    name=name,
                    category=spec.category,
                    colour=spec.colour,
                    position=tuple(float(v) for v in pos),
                    orientation=tuple(float(v) for v in orn),
                    size=objs.object_size(spec.category),
                )
            )
        return tuple(out)

    @property
    def sim_step(self) -> int:
        return self.motion.sim_step

    def observation(self, *, render: bool = True) -> Observation:
        """The driver-level observation (camera images only when `render`)."""
        rgb = depth = info = None
        if render:
            rgb, depth, info = self.camera.render(self.client)
        return Observation(
            rgb=rgb,
            depth=depth,
            camera=info if render else self.camera.info,
            joint_positions=self.robot.arm_positions(),
            gripper_width=self.robot.gripper_width(),
            ee_position=self.motion.ee_position(),
            step=self.sim_step,
            gripper_holding=bool(self.motion.gripper_closed and self.motion.held is not None),
            ground_truth=self.object_states(),
            extras={"held_body": self.motion.held},
        )

    def _gym_obs(self) -> dict[str, np.ndarray]:
        rgb, depth, _ = self.camera.render(self.client)
        space = self.observation_space
        joints = np.clip(self.robot.arm_positions(), space["joints"].low, space["joints"].high)
        return {
            "rgb": rgb,
            "depth": np.clip(depth, 0.0, self.camera.config.far).astype(np.float32),
            "joints": joints.astype(np.float32),
            "gripper_width": np.array([self.robot.gripper_width()], np.float32).clip(-0.01, 0.2),
            "ee_position": np.clip(np.asarray(self.motion.ee_position(), np.float32), -2.0, 2.0),
        }

    # -- gym step -----------------------------------------------------------------------------
    def step(self, action: np.ndarray):
        a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self.motion.servo(self.action_to_target(a), bool(a[3] > 0.0), self.substeps)
        self._elapsed += 1
        truncated = self._elapsed >= self.max_episode_steps
        info: dict[str, Any] = {"sim_step": self.sim_step}
        return self._gym_obs(), 0.0, False, truncated, info

    def action_to_target(self, action: np.ndarray) -> np.ndarray:
        """End-effector xyz (metres) that a normalised action asks for."""
        a = np.clip(np.asarray(action, dtype=np.float64)[:3], -1.0, 1.0)
        return self.target_low + (a + 1.0) / 2.0 * (self.target_high - self.target_low)

    def target_to_action(self, xyz: Sequence[float], close: bool) -> np.ndarray:
        """The normalised action that servoes toward `xyz` with the gripper closed or open."""
        a = (
            2.0 * (np.asarray(xyz, float) - self.target_low) / (self.target_high - self.target_low)
            - 1.0
        )
        return np.append(np.clip(a, -1.0, 1.0), 1.0 if close else -1.0).astype(np.float32)

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self.video_camera.render(self.client, depth=False)[0]
        return None  # "human": the GUI window draws itself

    # -- helpers for simulator-only executors --------------------------------------------------
    def teleport_object(self, name: str, position: Sequence[float], settle_steps: int = 60) -> int:
        """Put `name`'s centre at `position`, upright and at rest; let physics settle."""
        body = self.bodies[name]
        self.client.resetBasePositionAndOrientation(body, list(position), [0.0, 0.0, 0.0, 1.0])
        self.client.resetBaseVelocity(body, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
        steps = 0
        if self.motion.held == body:  # it was in the gripper: let go (the hand is now empty)
            steps += self.motion.release().steps
        self.motion.step(settle_steps)
        return steps + settle_steps

    # -- disturbances (saycan.sim.disturbance) ----------------------------------------------------
    def _disturbance_hook(self, step: int) -> None:
        if self._disturbance_live and self.disturbance is not None:
            self.disturbance.on_step(self, step)

    def disturb(self, carried: str | None) -> list:
        """After a skill: let the disturbance act; returns its `DisturbanceEvent`s. `carried`:
        the object a successful skill lifted and carried to a new place, if any."""
        if not self._disturbance_live or self.disturbance is None:
            return []
        return list(self.disturbance.after_skill(self, carried))

    # -- video ----------------------------------------------------------------------------------
    def _capture_hook(self, step: int) -> None:
        if self.record_video and step % self.video_every_n_steps == 0:
            self._capture_frame()

    def _capture_frame(self) -> None:
        if self.record_video:
            self.frames.append(self.video_camera.render(self.client, depth=False)[0])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.robot.close()
        try:
            self.client.disconnect()
        except Exception:  # pragma: no cover - already disconnected
            pass

"""What the simulator needs to know about an arm with a parallel gripper: `RobotConfig` (data)
and `SimRobot` (the loaded body: joints, gripper, inverse kinematics).

A second arm (xArm6, iiwa + gripper) is a new `RobotConfig` in its own module
(`saycan.sim.robots.<name>.CONFIG`): motion and skill code only talk to `SimRobot`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pybullet
import pybullet_data
from pybullet_utils.bullet_client import BulletClient

from saycan.drivers.types import Quat, Vec3
from saycan.sim.bullet_client import QuietBulletClient


@dataclass(frozen=True)
class RobotConfig:
    """Everything robot-specific, as data."""

    name: str
    urdf: str  # path, or relative to pybullet_data
    arm_joints: tuple[int, ...]
    finger_joints: tuple[int, ...]
    ee_link: int  # the link whose frame, moved by `tcp_offset`, is what `Pose` targets
    rest_pose: tuple[float, ...]  # arm joint positions of `home()`
    finger_open: float  # finger joint position when open (per finger)
    finger_closed: float  # finger joint position when fully closed
    base_position: Vec3 = (0.0, 0.0, 0.0)
    base_orientation: Quat = (0.0, 0.0, 0.0, 1.0)
    #: Links that count as "the hand" for guarded moves (contact stops the motion).
    gripper_links: tuple[int, ...] = ()
    arm_force: float | Sequence[float] = 240.0  # newton-metres per joint (position control)
    arm_max_velocity: float = 1.5  # rad/s, position-control velocity cap
    finger_force: float = 40.0
    finger_max_velocity: float = 0.1  # finger joint units per second (m/s, or rad/s)
    finger_friction: float = 1.5
    #: Finger opening (m) = finger_width_scale * sum of finger joint positions.
    finger_width_scale: float = 1.0
    #: Finger opening (m) at zero finger joint positions (linkage grippers close as q grows).
    finger_width_offset: float = 0.0
    #: Tool centre point: the point between the fingertips, in the `ee_link` frame (m). Zero
    #: when the URDF has a link there already (the Panda's `panda_grasptarget`).
    tcp_offset: Vec3 = (0.0, 0.0, 0.0)
    #: Further joints driven to the same target as the fingers (mimic joints of a linkage
    #: gripper such as the xArm's; URDF <mimic> tags are not simulated by PyBullet).
    mimic_joints: tuple[int, ...] = ()
    #: Joints whose positions give the finger opening (default: `finger_joints`).
    width_joints: tuple[int, ...] = ()
    #: Position-control gain of the arm joints.
    arm_position_gain: float = 0.3
    #: Couple the two fingers with a gear constraint (mirror motion), so that a held object
    #: cannot slide sideways with both fingers (a real parallel gripper is one mechanism).
    gear_fingers: bool = True
    #: Closed-loop linkage as gear couplings (leader joint, follower joint): each follower is
    #: held at its leader's position by a constraint instead of its own motor (a parallel
    #: linkage gripper keeps its finger pads parallel only if the finger joints follow the
    #: knuckles; driven independently they tilt and pinch at the tips).
    linkage: tuple[tuple[int, int], ...] = ()
    linkage_force: float = 1000.0  # N or N m, strength of a linkage coupling
    #: Reach (m) from `shoulder` beyond which a pose is rejected as UNREACHABLE without IK.
    shoulder: Vec3 = (0.0, 0.0, 0.33)
    reach: float = 0.86
    extra: dict = field(default_factory=dict, hash=False, compare=False)


def load_robot_config(robot: str | RobotConfig) -> RobotConfig:
    """`robot` as a config, a short name (`saycan.sim.robots.<name>.CONFIG`) or a dotted path
    `package.module:ATTR`, so that plugins add robots without a registry."""
    if isinstance(robot, RobotConfig):
        return robot
    module, _, attr = robot.partition(":")
    if "." not in module:
        module = f"saycan.sim.robots.{module}"
    try:
        cfg = getattr(importlib.import_module(module), attr or "CONFIG")
    except (ImportError, AttributeError) as err:
        raise ValueError(f"unknown robot {robot!r}: {err}") from None
    if not isinstance(cfg, RobotConfig):
        raise TypeError(f"{robot!r} is a {type(cfg).__name__}, not a RobotConfig")
    return cfg


class SimRobot:
    """A `RobotConfig` loaded into one client, plus a kinematic copy in a private DIRECT client.

    All inverse/forward kinematics run on the copy: asking "is this reachable?" never touches
    the simulated arm, so planning queries cannot change what physics does next.
    """

    def __init__(self, client: BulletClient, config: RobotConfig) -> None:
        self.client = client
        self.config = config
        self._kin = QuietBulletClient(connection_mode=pybullet.DIRECT)
        self._kin_body = self._load(self._kin)
        k = self._kin
        joints = [k.getJointInfo(self._kin_body, j) for j in range(k.getNumJoints(self._kin_body))]
        info = [joints[j] for j in config.arm_joints]
        self.lower = np.array([i[8] for i in info])
        self.upper = np.array([i[9] for i in info])
        self.ranges = self.upper - self.lower
        # IK returns one value per movable joint; where the arm joints sit among them.
        movable = [i[0] for i in joints if i[2] != pybullet.JOINT_FIXED]
        self._ik_index = [movable.index(j) for j in config.arm_joints]
        forces = config.arm_force
        self.arm_forces = (
            [float(forces)] * len(config.arm_joints)
            if isinstance(forces, (int, float))
            else [float(f) for f in forces]
        )
        self.body = -1
        self.spawn()

    def spawn(self) -> int:
        """Load the arm into the (freshly reset) world at its rest pose; returns the body id.

        The kinematic copy is kept, so a rebuilt world costs one URDF load."""
        c, cfg = self.client, self.config
        self.body = self._load(c)
        for j in cfg.finger_joints:
            c.changeDynamics(
                self.body,
                j,
                lateralFriction=cfg.finger_friction,
                spinningFriction=0.003,
                frictionAnchor=1,
            )
        if cfg.gear_fingers and len(cfg.finger_joints) == 2:
            a, b = cfg.finger_joints
            gear = c.createConstraint(
                self.body,
                a,
                self.body,
                b,
                jointType=c.JOINT_GEAR,
                jointAxis=[1, 0, 0],
                parentFramePosition=[0, 0, 0],
                childFramePosition=[0, 0, 0],
            )
            c.changeConstraint(gear, gearRatio=-1, erp=0.1, maxForce=100)
        for leader, follower in cfg.linkage:
            c.setJointMotorControl2(
                self.body, follower, c.VELOCITY_CONTROL, targetVelocity=0.0, force=0.0
            )
            link = c.createConstraint(
                self.body,
                leader,
                self.body,
                follower,
                jointType=c.JOINT_GEAR,
                jointAxis=[1, 0, 0],
                parentFramePosition=[0, 0, 0],
                childFramePosition=[0, 0, 0],
            )
            c.changeConstraint(link, gearRatio=-1, erp=0.8, maxForce=cfg.linkage_force)
        self.reset_to_rest()
        return self.body

    def _load(self, client: BulletClient) -> int:
        client.setAdditionalSearchPath(pybullet_data.getDataPath())
        return client.loadURDF(
            self.config.urdf,
            basePosition=self.config.base_position,
            baseOrientation=self.config.base_orientation,
            useFixedBase=True,
        )

    def close(self) -> None:
        try:
            self._kin.disconnect()
        except Exception:  # pragma: no cover - already gone
            pass

    # -- state ------------------------------------------------------------------------------
    def reset_to_rest(self) -> None:
        """Teleport to the rest pose with the gripper open (only when (re)building a world)."""
        c, cfg = self.client, self.config
        for j, q in zip(cfg.arm_joints, cfg.rest_pose):
            c.resetJointState(self.body, j, q)
        for j in cfg.finger_joints + cfg.mimic_joints:
            c.resetJointState(self.body, j, cfg.finger_open)
        self.command_arm(np.asarray(cfg.rest_pose))
        self.command_gripper(closed=False)

    def arm_positions(self) -> np.ndarray:
        states = self.client.getJointStates(self.body, self.config.arm_joints)
        return np.array([s[0] for s in states])

    def arm_velocities(self) -> np.ndarray:
        states = self.client.getJointStates(self.body, self.config.arm_joints)
        return np.array([s[1] for s in states])

    def finger_positions(self) -> np.ndarray:
        """Positions of the joints that set the opening (`width_joints`)."""
        states = self.client.getJointStates(
            self.body, self.config.width_joints or self.config.finger_joints
        )
        return np.array([s[0] for s in states])

    def finger_velocities(self) -> np.ndarray:
        states = self.client.getJointStates(
            self.body, self.config.width_joints or self.config.finger_joints
        )
        return np.array([s[1] for s in states])

    def gripper_width(self) -> float:
        cfg = self.config
        return float(
            cfg.finger_width_offset + cfg.finger_width_scale * self.finger_positions().sum()
        )

    def ee_pose(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.client.getLinkState(self.body, self.config.ee_link, computeForwardKinematics=True)
        return self._tcp(s[4], s[5])

    def _tcp(self, pos, orn) -> tuple[np.ndarray, np.ndarray]:
        """The tool centre point of an `ee_link` frame."""
        off = self.config.tcp_offset
        if off == (0.0, 0.0, 0.0):
            return np.array(pos), np.array(orn)
        rot = np.array(pybullet.getMatrixFromQuaternion(orn)).reshape(3, 3)
        return np.asarray(pos) + rot @ np.asarray(off), np.array(orn)

    def _link_target(self, position, orientation) -> list[float]:
        """Where `ee_link` must be for the tool centre point to reach `position`."""
        off = self.config.tcp_offset
        if off == (0.0, 0.0, 0.0):
            return list(position)
        rot = np.array(pybullet.getMatrixFromQuaternion(list(orientation))).reshape(3, 3)
        return list(np.asarray(position, dtype=float) - rot @ np.asarray(off))

    # -- commands ---------------------------------------------------------------------------
    def command_arm(self, q: np.ndarray) -> None:
        cfg = self.config
        self.client.setJointMotorControlArray(
            self.body,
            list(cfg.arm_joints),
            self.client.POSITION_CONTROL,
            targetPositions=[float(v) for v in q],
            forces=self.arm_forces,
            positionGains=[cfg.arm_position_gain] * len(cfg.arm_joints),
        )

    def command_gripper(self, closed: bool) -> None:
        cfg = self.config
        target = cfg.finger_closed if closed else cfg.finger_open
        followers = {f for _, f in cfg.linkage}
        for j in cfg.finger_joints + cfg.mimic_joints:
            if j in followers:
                continue
            self.client.setJointMotorControl2(
                self.body,
                j,
                self.client.POSITION_CONTROL,
                targetPosition=target,
                force=cfg.finger_force,
                maxVelocity=cfg.finger_max_velocity,
            )

    # -- kinematics (on the private copy) ---------------------------------------------------
    def forward(self, q: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """End-effector pose for arm joint positions `q` (the simulated arm is not touched)."""
        k = self._kin
        for j, v in zip(self.config.arm_joints, q):
            k.resetJointState(self._kin_body, j, float(v))
        s = k.getLinkState(self._kin_body, self.config.ee_link, computeForwardKinematics=True)
        return self._tcp(s[4], s[5])

    def inverse(
        self,
        position: Sequence[float],
        orientation: Sequence[float],
        seed: Sequence[float] | None = None,
        *,
        iterations: int = 3,
    ) -> tuple[np.ndarray, float, float]:
        """IK from `seed` (default: rest pose): (q, position error m, orientation error rad).

        Deterministic: depends only on the arguments, never on earlier queries.
        """
        cfg, k = self.config, self._kin
        q = np.asarray(cfg.rest_pose if seed is None else seed, dtype=float)
        rest = list(cfg.rest_pose)
        best = (q, np.inf, np.inf)
        link_target = self._link_target(position, orientation)
        for _ in range(iterations):
            for j, v in zip(cfg.arm_joints, q):
                k.resetJointState(self._kin_body, j, float(v))
            sol = k.calculateInverseKinematics(
                self._kin_body,
                cfg.ee_link,
                link_target,
                list(orientation),
                lowerLimits=list(self.lower),
                upperLimits=list(self.upper),
                jointRanges=list(self.ranges),
                restPoses=rest,
                maxNumIterations=100,
                residualThreshold=1e-5,
            )
            q = np.clip(np.array([sol[i] for i in self._ik_index]), self.lower, self.upper)
            pos, orn = self.forward(q)
            perr = float(np.linalg.norm(pos - np.asarray(position)))
            oerr = _quat_angle(orn, orientation)
            if perr + 0.1 * oerr < best[1] + 0.1 * best[2]:
                best = (q, perr, oerr)
            if perr < 5e-4 and oerr < 5e-3:
                break
        return best

    def contacts(self, other: int | None = None) -> list:
        """Contact points between the gripper links and anything (or `other`)."""
        pts = []
        for link in self.config.gripper_links:
            if other is None:
                pts += self.client.getContactPoints(bodyA=self.body, linkIndexA=link)
            else:
                pts += self.client.getContactPoints(bodyA=self.body, bodyB=other, linkIndexA=link)
        return pts


def _quat_angle(a: Sequence[float], b: Sequence[float]) -> float:
    d = abs(float(np.dot(np.asarray(a) / np.linalg.norm(a), np.asarray(b) / np.linalg.norm(b))))
    return 2.0 * float(np.arccos(min(1.0, d)))

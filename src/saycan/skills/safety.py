"""The safety gate between the planner and the motors (in `skills/`: it wraps the drivers'
`MotionInterface` below and gates skills above).

Two layers, both built from the `safety:` config node (`SafetyGate`):

- **per motion** (`SafeMotion`, a `MotionInterface` wrapper): every command is checked before it
  is sent: an emergency stop latched, a non-finite pose, a target outside the workspace box, a
  target below the table (a guarded move may aim `guarded_depth` into it: it stops on contact),
  a step budget above `max_steps_per_motion`, a joint solution outside the joint limits (when
  the motion can say which joints it would use), a declared speed above `max_speed`. A refused
  command returns `MotionStatus.REFUSED` with the reason; nothing reaches the driver. After a
  move, the measured end-effector speed is monitored: above `speed_stop_factor * max_speed` the
  gate latches an emergency stop.
- **per skill** (`SafetyGate.check_skill`, applied by `GatedExecutor`): the emergency stop, a
  per-episode skill budget (`max_skills`) and, with `confirm=true`, a human approving each skill
  on the terminal (`confirm_fn` replaces the prompt, e.g. in tests). A refused skill returns
  `SkillResult(success=False, reason=REFUSED, message=...)`, which the trace records.

Any layer can stop the robot: `gate.emergency_stop("why")` (or `driver.safety.emergency_stop`
through a `SafeDriver`); the stop latches until `gate.estop.reset()`.

The limits are validated when the gate is built (a `ConfigError` naming the key). A driver that
declares its physical cell (`DeclaresWorkcell`, e.g. the tabletop's `saycan.sim.cell`) bounds
every target on top of the configured workspace: a configured workspace reaching outside the
cell is refused when the driver is wrapped, and no command outside the cell is ever sent, even
with `enabled=false`.

The wrappers forward exactly the declared protocols (`RobotDriver`, `MotionInterface`), a few
read-only queries, and, around a simulator, the scene-level `SimulatorExtras` (a
`SafeSimulator`; none of them commands the arm); anything else (`servo`, `env`, ...) is refused
with an AttributeError that names the gate. Code that really needs the ungated driver (tests,
training data generation) holds it itself.

`assert_parallel_ok(driver_or_cfg, launcher)` refuses parallel sweep launchers for physical
drivers (`is_physical = True`): one arm cannot run two episodes at once.
"""

from __future__ import annotations

import inspect
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from saycan.drivers.base import SimulatorExtras
from saycan.drivers.capabilities import ControlRate, DeclaresSpeed, ReportsPosition, SolvesJoints
from saycan.drivers.types import (
    DeclaresWorkcell,
    GripperResult,
    MotionResult,
    MotionStatus,
    Pose,
    Vec3,
    Workcell,
)
from saycan.errors import ConfigError, GateRefusal, NoOperatorError
from saycan.skills.types import FailureReason, SkillCall, SkillResult

#: Hydra launchers that run jobs one after another in this process.
SERIAL_LAUNCHERS = frozenset(
    {"", "basic", "basiclauncher", "hydra._internal.core_plugins.basic_launcher.basiclauncher"}
)


@dataclass(frozen=True)
class SafetyLimits:
    """Limits checked on every motion command (world frame, metres, seconds, radians)."""

    #: End-effector targets must lie in this box (x, y, z).
    workspace_min: Vec3 = (0.10, -0.45, 0.0)
    workspace_max: Vec3 = (0.85, 0.45, 0.70)
    #: The table top: targets below it are refused...
    table_z: float = 0.0
    #: ...except guarded moves (stop_on_contact) aiming at most this far into it.
    guarded_depth: float = 0.01
    #: Cartesian speed limit (m/s) of a motion that declares its speed (`max_speed` attribute);
    #: None: unchecked.
    max_speed: float | None = 0.5
    #: Measured speed above `speed_stop_factor * max_speed` latches the emergency stop.
    speed_stop_factor: float = 2.0
    #: Explicit joint limits [[lo, hi], ...] (rad); None: the arm's own limits.
    joint_limits: tuple[tuple[float, float], ...] | None = None
    #: Keep joint solutions this far inside the limits (rad).
    joint_margin: float = 0.0
    #: Largest step budget one motion may ask for (simulation/control steps).
    max_steps_per_motion: int = 10000

    def __post_init__(self) -> None:
        """Validate every limit (a `ConfigError` naming the key): a NaN box, a 2-number corner,
        an inverted box or a deep guarded descent would otherwise let commands through or refuse
        everything without saying why."""
        lo = _vec3("workspace_min", self.workspace_min)
        hi = _vec3("workspace_max", self.workspace_max)
        for axis, a, b in zip("xyz", lo, hi):
            if not a < b:
                raise ConfigError(
                    f"safety.limits: workspace_min must be below workspace_max on every axis; "
                    f"{axis}: {a:g} >= {b:g} (an inverted box refuses every motion)"
                )
        object.__setattr__(self, "workspace_min", lo)
        object.__setattr__(self, "workspace_max", hi)
        table_z = _number("table_z", self.table_z)
        if not table_z < hi[2]:
            raise ConfigError(
                f"safety.limits.table_z = {table_z:g} m must be below workspace_max z = "
                f"{hi[2]:g} m (a table above the workspace refuses every motion)"
            )
        object.__setattr__(self, "table_z", table_z)
        depth = _number("guarded_depth", self.guarded_depth)
        if not 0.0 <= depth <= MAX_GUARDED_DEPTH:
            raise ConfigError(
                f"safety.limits.guarded_depth must be between 0 and {MAX_GUARDED_DEPTH:g} m "
                f"(how far a guarded descent may aim into the table), got {depth:g}"
            )
        object.__setattr__(self, "guarded_depth", depth)
        if self.max_speed is not None:
            speed = _number("max_speed", self.max_speed)
            if speed <= 0:
                raise ConfigError(f"safety.limits.max_speed must be > 0 m/s or null, got {speed:g}")
            object.__setattr__(self, "max_speed", speed)
        factor = _number("speed_stop_factor", self.speed_stop_factor)
        if factor < 1:
            raise ConfigError(f"safety.limits.speed_stop_factor must be >= 1, got {factor:g}")
        object.__setattr__(self, "speed_stop_factor", factor)
        margin = _number("joint_margin", self.joint_margin)
        if margin < 0:
            raise ConfigError(f"safety.limits.joint_margin must be >= 0 rad, got {margin:g}")
        object.__setattr__(self, "joint_margin", margin)
        if self.joint_limits is not None:
            object.__setattr__(self, "joint_limits", _joint_limits(self.joint_limits))
        object.__setattr__(
            self, "max_steps_per_motion", _count("max_steps_per_motion", self.max_steps_per_motion)
        )

    def check_within(self, cell: Workcell, robot: str) -> None:
        """Raise `ConfigError` if the configured workspace (or table) reaches outside `cell`."""
        for i, axis in enumerate("xyz"):
            if self.workspace_min[i] < cell.low[i] - 1e-9:
                raise ConfigError(
                    f"safety.limits.workspace_min {axis} = {self.workspace_min[i]:g} m is outside "
                    f"the cell of {robot}: {cell.text()}"
                )
            if self.workspace_max[i] > cell.high[i] + 1e-9:
                raise ConfigError(
                    f"safety.limits.workspace_max {axis} = {self.workspace_max[i]:g} m is outside "
                    f"the cell of {robot}: {cell.text()}"
                )
        if self.table_z < cell.low[2] - 1e-9:
            raise ConfigError(
                f"safety.limits.table_z = {self.table_z:g} m is below the cell of {robot}: "
                f"{cell.text()}"
            )

    @classmethod
    def from_any(cls, value: Any) -> SafetyLimits:
        if value is None:
            return cls()
        if isinstance(value, SafetyLimits):
            return value
        data = _plain(value)
        if not isinstance(data, Mapping):
            raise ConfigError(f"safety.limits must be a mapping, got {type(value).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(
                f"unknown safety.limits keys {sorted(unknown)}; known: {sorted(known)}"
            )
        return cls(**dict(data))


#: The deepest a guarded descent may aim into the table (m): it stops on contact, and a
#: deeper aim only presses harder into whatever it touches.
MAX_GUARDED_DEPTH = 0.02


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"safety.limits.{key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"safety.limits.{key} must be finite, got {value!r}")
    return float(value)


def _vec3(key: str, value: Any) -> Vec3:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
        shown = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else value
        raise ConfigError(f"safety.limits.{key} must be 3 numbers (x, y, z), got {shown!r}")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value):
        raise ConfigError(f"safety.limits.{key} must be 3 numbers (x, y, z), got {list(value)!r}")
    if not all(math.isfinite(v) for v in value):
        raise ConfigError(f"safety.limits.{key} must be finite, got {list(value)!r}")
    return tuple(float(v) for v in value)  # type: ignore[return-value]


def _count(key: str, value: Any, minimum: int = 1, prefix: str = "safety.limits.") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{prefix}{key} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _joint_limits(value: Any) -> tuple[tuple[float, float], ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
        raise ConfigError(
            f"safety.limits.joint_limits must be [[lo, hi], ...] or null, got {value!r}"
        )
    pairs = []
    for i, pair in enumerate(value):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ConfigError(f"safety.limits.joint_limits[{i}] must be [lo, hi], got {pair!r}")
        lo, hi = (_number(f"joint_limits[{i}]", v) for v in pair)
        if not lo < hi:
            raise ConfigError(f"safety.limits.joint_limits[{i}]: lo {lo:g} must be below hi {hi:g}")
        pairs.append((lo, hi))
    return tuple(pairs)


class EmergencyStop:
    """A latching stop that any layer (or thread, or signal handler) can trigger."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def trigger(self, reason: str = "emergency stop") -> None:
        if not self._event.is_set():
            self.reason = reason
        self._event.set()

    @property
    def triggered(self) -> bool:
        return self._event.is_set()

    def reset(self) -> None:
        """Clear the stop (a human decision; nothing calls it automatically)."""
        self.reason = ""
        self._event.clear()


def ask_on_terminal(call: SkillCall) -> bool:
    """Ask a human to approve `call`; anything but y/yes is a no. End of input (no terminal)
    raises NoOperatorError, as asking for help does: nobody refused, nobody was there."""
    try:
        answer = input(f"[saycan safety] run {call.to_text()}? [y/N] ")
    except EOFError:
        raise NoOperatorError(
            f"safety.confirm=true asked the operator to approve {call.to_text()}, but stdin is "
            "closed (no terminal); run interactively, or set safety.confirm=false"
        ) from None
    return answer.strip().lower() in ("y", "yes")


class SafetyGate:
    """The `safety:` config node: limits for every motion plus the per-skill gate.

    `enabled=false` turns the motion checks and the budget off (the emergency stop and
    `confirm` still apply: they are never silently disabled).
    """

    def __init__(
        self,
        enabled: bool = True,
        limits: Any = None,
        max_skills: int | None = None,
        confirm: bool = False,
        confirm_fn: Callable[[SkillCall], bool] | str | None = None,
        estop: EmergencyStop | None = None,
    ) -> None:
        for key, flag in (("enabled", enabled), ("confirm", confirm)):
            if not isinstance(flag, bool):
                raise ConfigError(f"safety.{key} must be true or false, got {flag!r}")
        self.enabled = enabled
        self.limits = SafetyLimits.from_any(limits)
        if max_skills is not None:
            max_skills = _count("max_skills", max_skills, minimum=0, prefix="safety.")
        self.max_skills = max_skills
        self.confirm = confirm
        if isinstance(confirm_fn, str):  # a dotted path from the config
            from hydra.utils import get_method

            confirm_fn = get_method(confirm_fn)
        self.confirm_fn = confirm_fn or ask_on_terminal
        self.estop = estop or EmergencyStop()
        self.skills_run = 0
        self.log: list[str] = []  # every refusal, in order

    # -- episode / stop ---------------------------------------------------------------------
    def reset(self) -> None:
        """A new episode: the skill budget starts again (a latched e-stop stays latched)."""
        self.skills_run = 0

    def emergency_stop(self, reason: str = "emergency stop") -> None:
        self.estop.trigger(reason)
        self.log.append(f"emergency stop: {reason}")

    @property
    def halted(self) -> bool:
        return self.estop.triggered

    # -- per skill --------------------------------------------------------------------------
    def check_skill(self, call: SkillCall) -> SkillResult | None:
        """None if `call` may run (and count it against the budget), else a REFUSED result."""
        why = None
        if self.estop.triggered:
            why = f"emergency stop: {self.estop.reason}"
        elif self.enabled and self.max_skills is not None and self.skills_run >= self.max_skills:
            why = (
                f"skill budget exhausted: {self.skills_run} of {self.max_skills} skills this "
                "episode"
            )
        elif self.confirm and not self.confirm_fn(call):
            why = "operator declined (confirm=true)"
        if why is not None:
            self.log.append(f"{call.to_text()}: {why}")
            return SkillResult(
                call, False, FailureReason.REFUSED, f"refused by the safety gate: {why}"
            )
        self.skills_run += 1
        return None

    # -- per motion ---------------------------------------------------------------------------
    def check_pose(
        self,
        pose: Pose,
        *,
        guarded: bool = False,
        max_steps: int | None = None,
        cell: Workcell | None = None,
    ) -> str | None:
        """Why a move to `pose` must not be sent (None: allowed). `cell`: the robot's declared
        physical cell, enforced even with `enabled=false`."""
        if self.estop.triggered:
            return f"emergency stop: {self.estop.reason}"
        p = np.asarray(pose.position, dtype=float)
        q = np.asarray(pose.orientation, dtype=float)
        if p.shape != (3,) or q.shape != (4,):  # a malformed pose is refused, not a crash
            return f"pose needs 3 position and 4 orientation numbers, got {pose.position}"
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
            return f"non-finite pose {pose.position}"
        if abs(float(np.linalg.norm(q)) - 1.0) > 1e-3:
            return f"orientation {pose.orientation} is not a unit quaternion"
        why = self._limits_problem(p, guarded, max_steps) if self.enabled else None
        below = self.limits.guarded_depth if guarded else 0.0
        if why is None and cell is not None and not cell.contains(tuple(p), below=below):
            where = tuple(round(float(v), 3) for v in p)
            why = f"target {where} is outside the robot's cell {cell.text()}"
        return why

    def _limits_problem(self, p: np.ndarray, guarded: bool, max_steps: int | None) -> str | None:
        lim = self.limits
        floor = lim.table_z - (lim.guarded_depth if guarded else 0.0)
        if p[2] < floor - 1e-9:
            kind = "guarded " if guarded else ""
            return f"{kind}target z = {p[2]:.3f} m is below the table (z >= {floor:.3f} m)"
        lo, hi = np.asarray(lim.workspace_min), np.asarray(lim.workspace_max)
        # The guarded allowance lowers the box's floor only where that floor is the table: a
        # workspace_min z above the table is a floor of its own (min() here let every target
        # between the table and it through).
        lo = np.array([lo[0], lo[1], floor if lo[2] <= lim.table_z + 1e-9 else lo[2]])
        if np.any(p < lo) or np.any(p > hi):
            where = tuple(round(float(v), 3) for v in p)
            box = f"{tuple(lim.workspace_min)}..{tuple(lim.workspace_max)}"
            return f"target {where} is outside the workspace {box}"
        if max_steps is not None and max_steps > lim.max_steps_per_motion:
            return f"step budget {max_steps} above the limit {lim.max_steps_per_motion}"
        return None

    def check_joints(
        self, q: np.ndarray, own_limits: tuple[np.ndarray, np.ndarray] | None
    ) -> str | None:
        lim = self.limits
        if lim.joint_limits is not None:
            lo = np.array([a for a, _ in lim.joint_limits])
            hi = np.array([b for _, b in lim.joint_limits])
        elif own_limits is not None:
            lo, hi = (np.asarray(v, dtype=float) for v in own_limits)
        else:
            return None
        if len(lo) != len(q):
            return f"{len(lim.joint_limits or ())} joint limits configured for a {len(q)}-joint arm"
        lo, hi = lo + lim.joint_margin, hi - lim.joint_margin
        bad = [i for i in range(len(q)) if not lo[i] <= q[i] <= hi[i]]
        if bad:
            i = bad[0]
            return f"joint {i} would reach {q[i]:.3f} rad, outside [{lo[i]:.3f}, {hi[i]:.3f}]"
        return None

    def refuse(self, what: str, why: str) -> None:
        self.log.append(f"{what}: {why}")

    # -- wrappers -----------------------------------------------------------------------------
    def wrap_driver(self, driver: Any) -> SafeDriver:
        """`driver` behind this gate. A driver that declares its cell has the configured
        workspace checked against it here (`ConfigError` if it reaches outside)."""
        if isinstance(driver, SafeDriver):
            return driver
        cell = driver.workcell if isinstance(driver, DeclaresWorkcell) else None
        if cell is not None:
            self.limits.check_within(cell, str(getattr(driver, "name", type(driver).__name__)))
        # A simulator's extras are one declared protocol, checked once here.
        wrapper = SafeSimulator if isinstance(driver, SimulatorExtras) else SafeDriver
        return wrapper(driver, self, cell)

    def wrap_executor(self, executor: Any) -> GatedExecutor:
        return executor if isinstance(executor, GatedExecutor) else GatedExecutor(executor, self)


_MISSING = object()


def _refused(
    wrapper: object, inner: object, gate: SafetyGate, name: str, known: Sequence[str]
) -> GateRefusal:
    """The error for an attribute the wrapper does not forward. When the wrapped object has it
    (a real bypass, e.g. the simulator's `servo`), the gate's log records the refusal; a probe
    for something neither has (a capability check) is only an AttributeError."""
    why = (
        f"the safety gate ({type(wrapper).__name__}) does not forward {name!r}: only "
        f"{', '.join(known)} reach the robot through it"
    )
    # Looked up statically: a property of a real driver is never run just to word an error.
    has = inspect.getattr_static(inner, name, _MISSING) is not _MISSING
    if has and not name.startswith("_"):
        gate.refuse(f"{name} (not forwarded)", why)
    return GateRefusal(why)


class SafeMotion:
    """A `MotionInterface` that checks every command against a `SafetyGate` before sending it.

    `commands_sent` counts commands that reached the wrapped motion; `refused` those stopped.
    It forwards the `MotionInterface` methods (gated), `check_pose` (the gate's verdict) and the
    read-only `ee_position()` when the wrapped motion has it; nothing else (a `servo()` or any
    other command the gate does not know is refused).
    """

    FORWARDED = ("move_to_pose", "set_gripper", "home", "is_reachable", "check_pose", "ee_position")

    def __init__(self, inner: Any, gate: SafetyGate, cell: Workcell | None = None) -> None:
        self.inner = inner
        self.gate = gate
        self.cell = cell
        self.commands_sent = 0
        self.refused = 0
        # What the wrapped motion offers beyond the contract, checked once (drivers.capabilities).
        self._position = inner if isinstance(inner, ReportsPosition) else None
        self._speed = inner if isinstance(inner, DeclaresSpeed) else None
        self._rate = inner if isinstance(inner, ControlRate) else None
        self._joints = inner if isinstance(inner, SolvesJoints) else None
        if self._position is not None:  # a read-only query (primitives' cleanup lifts from here)
            self.ee_position: Callable[[], Vec3] = self._position.ee_position

    def __getattr__(self, name: str) -> Any:
        own = ("inner", "gate", "_position", "_speed", "_rate", "_joints")
        if name.startswith("__") or name in own:
            raise AttributeError(name)  # copy/pickle probes, and attributes not set yet
        raise _refused(self, self.inner, self.gate, name, self.FORWARDED)

    def _here(self) -> Vec3 | None:
        if self._position is None:
            return None
        try:
            return tuple(float(v) for v in self._position.ee_position())
        except Exception:  # noqa: BLE001 - position is informative only
            return None

    def _refuse(self, what: str, why: str) -> MotionResult:
        self.refused += 1
        self.gate.refuse(what, why)
        return MotionResult(
            MotionStatus.REFUSED, 0, self._here(), f"refused by the safety gate: {why}"
        )

    def move_to_pose(
        self, pose: Pose, *, max_steps: int = 2000, stop_on_contact: bool = False
    ) -> MotionResult:
        what = f"move_to_pose{tuple(round(float(v), 3) for v in pose.position)}"
        why = self.gate.check_pose(
            pose, guarded=stop_on_contact, max_steps=max_steps, cell=self.cell
        )
        if why is None and self.gate.enabled:
            why = self._speed_problem() or self._joint_problem(pose)
        if why is not None:
            return self._refuse(what, why)
        start = self._here()
        self.commands_sent += 1
        res = self.inner.move_to_pose(pose, max_steps=max_steps, stop_on_contact=stop_on_contact)
        self._monitor_speed(start, res)
        return res

    def set_gripper(self, closed: bool, *, max_steps: int = 500) -> GripperResult:
        if self.gate.estop.triggered:
            self.refused += 1
            why = f"emergency stop: {self.gate.estop.reason}"
            self.gate.refuse(f"set_gripper(closed={closed})", why)
            return GripperResult(MotionStatus.REFUSED, closed, 0.0, False, 0)
        self.commands_sent += 1
        return self.inner.set_gripper(closed, max_steps=max_steps)

    def home(self, *, max_steps: int = 3000) -> MotionResult:
        if self.gate.estop.triggered:
            return self._refuse("home()", f"emergency stop: {self.gate.estop.reason}")
        if self.gate.enabled and max_steps > self.gate.limits.max_steps_per_motion:
            return self._refuse("home()", f"step budget {max_steps} above the limit")
        self.commands_sent += 1
        return self.inner.home(max_steps=max_steps)

    def check_pose(self, pose: Pose, *, guarded: bool = False) -> str | None:
        """Why the gate would refuse a move to `pose` (None: allowed); nothing is sent."""
        return self.gate.check_pose(pose, guarded=guarded, cell=self.cell)

    def is_reachable(self, pose: Pose) -> bool:
        """Reachable for the arm *and* allowed by the gate (affordances see the limits)."""
        if self.check_pose(pose, guarded=True) is not None:
            return False
        return bool(self.inner.is_reachable(pose))

    # -- checks that need the wrapped motion's cooperation (drivers.capabilities) ----------
    def _speed_problem(self) -> str | None:
        limit = self.gate.limits.max_speed
        declared = self._speed.max_speed if self._speed is not None else None
        if limit is not None and isinstance(declared, (int, float)) and declared > limit + 1e-9:
            return f"the motion's speed {declared:.2f} m/s is above the limit {limit:.2f} m/s"
        return None

    def _joint_problem(self, pose: Pose) -> str | None:
        if self._joints is None:
            return None
        q = self._joints.joint_solution(pose)
        if q is None:
            return None  # no solution: the wrapped motion reports IK_FAILED itself
        return self.gate.check_joints(np.asarray(q, dtype=float), self._joints.joint_limits())

    def _monitor_speed(self, start: Vec3 | None, res: MotionResult) -> None:
        limit = self.gate.limits.max_speed
        hz = self._rate.control_hz if self._rate is not None else None
        if limit is None or not hz or start is None or res.position is None or res.steps <= 0:
            return
        speed = float(np.linalg.norm(np.subtract(res.position, start))) / (res.steps / float(hz))
        if speed > self.gate.limits.speed_stop_factor * limit:
            self.gate.emergency_stop(
                f"measured end-effector speed {speed:.2f} m/s above {limit:.2f} m/s"
            )


class SafeDriver:
    """A `RobotDriver` whose `motion` is a `SafeMotion`.

    It forwards the `RobotDriver` protocol and `workcell`; anything else is refused (a
    simulator is wrapped in a `SafeSimulator`, which adds its `SimulatorExtras`).
    `driver.safety` is the gate, so any layer holding the driver can call
    `driver.safety.emergency_stop(...)`.
    `inner` is the ungated driver, for its owner only (tests, data generation): its motion
    bypasses every check.
    """

    FORWARDED = (
        "name",
        "is_physical",
        "is_connected",
        "connect",
        "disconnect",
        "get_observation",
        "motion",
        "safety",
        "workcell",
    )

    def __init__(self, inner: Any, gate: SafetyGate, cell: Workcell | None = None) -> None:
        self.inner = inner
        self.safety = gate
        self.workcell = cell
        self._motion: SafeMotion | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_motion", "inner", "safety"):
            raise AttributeError(name)  # copy/pickle probes, and attributes not set yet
        raise _refused(self, self.inner, self.safety, name, self.FORWARDED)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def is_physical(self) -> bool:
        return bool(self.inner.is_physical)

    @property
    def is_connected(self) -> bool:
        return self.inner.is_connected

    def connect(self) -> None:
        self.inner.connect()

    def disconnect(self) -> None:
        self.inner.disconnect()

    def get_observation(self):
        return self.inner.get_observation()

    @property
    def motion(self) -> SafeMotion:
        inner = self.inner.motion
        if self._motion is None or self._motion.inner is not inner:
            self._motion = SafeMotion(inner, self.safety, self.workcell)
        return self._motion


class SafeSimulator(SafeDriver):
    """A `SafeDriver` around a simulator: also the `SimulatorExtras` protocol, each method
    delegated by name. None of them commands the arm (a scene reset rebuilds the simulated
    world with the arm at rest), so none passes the gate."""

    FORWARDED = (
        *SafeDriver.FORWARDED,
        "reset_scene",
        "ground_truth",
        "video_frames",
        "set_render_images",
        "set_disturbance",
        "disturb",
        "teleport_object",
    )

    def reset_scene(self, objects: Sequence[Any], *, seed: int, record_video: bool = False) -> None:
        self.inner.reset_scene(objects, seed=seed, record_video=record_video)

    def ground_truth(self) -> tuple[Any, ...]:
        return self.inner.ground_truth()

    def video_frames(self) -> list[np.ndarray]:
        return self.inner.video_frames()

    def set_render_images(self, render: bool) -> None:
        self.inner.set_render_images(render)

    def set_disturbance(self, disturbance: Any) -> None:
        self.inner.set_disturbance(disturbance)

    def disturb(self, carried: str | None) -> list[dict]:
        return self.inner.disturb(carried)

    def teleport_object(self, name: str, position: Vec3) -> int:
        return self.inner.teleport_object(name, position)


class GatedExecutor:
    """Wraps an executor: `SafetyGate.check_skill` runs before each skill; a refused skill
    returns its REFUSED result without touching the robot. Forwards `execute` (gated), `name`
    and `halted`; nothing else."""

    def __init__(self, inner: Any, gate: SafetyGate) -> None:
        self.inner = inner
        self.gate = gate
        self.name = getattr(inner, "name", type(inner).__name__)

    @property
    def halted(self) -> bool:
        """The emergency stop is latched (the loop stops planning)."""
        return self.gate.halted

    def execute(self, call: SkillCall, driver: Any, scene: Any) -> SkillResult:
        refused = self.gate.check_skill(call)
        if refused is not None:
            return refused
        return self.inner.execute(call, driver, scene)


# -- physical robots and parallel launchers ----------------------------------------------------
def is_physical(driver_or_cfg: Any) -> bool:
    """Whether a driver instance, driver class or driver config (`_target_`) is physical."""
    value = getattr(driver_or_cfg, "is_physical", None)
    if isinstance(value, bool):
        return value
    data = _plain(driver_or_cfg)
    if isinstance(data, Mapping):
        if "is_physical" in data:
            return bool(data["is_physical"])
        target = data.get("_target_")
        if target:
            from hydra.utils import get_class, get_method

            try:
                obj = get_class(target)
            except Exception:  # noqa: BLE001 - a factory function, not a class
                try:
                    obj = get_method(target)
                except Exception as exc:  # noqa: BLE001
                    raise ConfigError(f"cannot import driver {target!r}: {exc}") from None
            flag = getattr(obj, "is_physical", None)
            if isinstance(flag, bool):
                return flag
            raise ConfigError(
                f"driver {target!r} does not declare is_physical (a bool class attribute)"
            )
    raise ConfigError(f"cannot tell whether {type(driver_or_cfg).__name__} is a physical driver")


def assert_parallel_ok(driver_or_cfg: Any, launcher_name: str | None) -> None:
    """Raise `ConfigError` when a physical driver would run under a parallel launcher.

    `launcher_name`: the Hydra launcher (`basic`, `joblib`, `ray`, `submitit_slurm`, its
    `_target_`, ...); only the basic (serial, in-process) launcher is allowed for physical
    robots. Simulated drivers may use any launcher (each worker owns its own simulator).
    """
    name = (launcher_name or "").strip().lower()
    short = name.rsplit(".", 1)[-1]
    if name in SERIAL_LAUNCHERS or short in SERIAL_LAUNCHERS:
        return
    if is_physical(driver_or_cfg):
        robot = getattr(driver_or_cfg, "name", None) or _plain(driver_or_cfg).get(
            "_target_", "the robot"
        )
        raise ConfigError(
            f"{robot} is a physical robot: it cannot run episodes in parallel (launcher "
            f"{launcher_name!r}); use the basic launcher (drop hydra/launcher=...)"
        )


def _plain(value: Any) -> Any:
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, (DictConfig, ListConfig)):
            return OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, Mapping):
        return dict(value)
    return value

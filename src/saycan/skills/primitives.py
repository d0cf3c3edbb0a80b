"""Motor primitives: pick, place and pick-and-place compiled into guarded Cartesian moves.

Only a `MotionInterface` is used (no simulator import), so the same code drives PyBullet and a
real arm. Every motion is recorded as a `PrimitiveRecord`; the first failure ends the skill with
a typed `FailureReason` (after a best-effort cleanup: open the gripper if it may hold something,
move up out of the way).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from saycan.drivers.base import MotionInterface
from saycan.drivers.capabilities import ChecksPoses, ReportsPosition
from saycan.drivers.types import TOP_DOWN, MotionStatus, Pose, Quat, Vec3
from saycan.perception.scene import SceneObject
from saycan.skills.types import FailureReason, PrimitiveRecord, SkillCall, SkillResult

#: How a failed motion is reported at the skill level.
MOTION_TO_FAILURE: dict[MotionStatus, FailureReason] = {
    MotionStatus.IK_FAILED: FailureReason.IK_FAILED,
    MotionStatus.UNREACHABLE: FailureReason.UNREACHABLE,
    MotionStatus.TIMEOUT: FailureReason.TIMEOUT,
    MotionStatus.COLLISION: FailureReason.COLLISION,
    MotionStatus.CONTACT: FailureReason.COLLISION,  # contact where none was expected
    MotionStatus.REFUSED: FailureReason.REFUSED,
    MotionStatus.DISCONNECTED: FailureReason.REFUSED,
}


@dataclass(frozen=True)
class PrimitiveParams:
    """Heights (m, of the end effector = point between the fingertips) and step budgets."""

    approach_height: float = 0.10  # above the object's top (pick) or the release pose (place)
    safe_height: float = 0.22  # transport height
    grasp_offset: float = 0.0  # end effector relative to the object's centre when grasping
    place_clearance: float = 0.006  # release this far above the computed resting height
    guard_depth: float = 0.03  # a guarded descent aims this far below the release pose
    retreat_height: float = 0.10  # up after releasing
    move_steps: int = 1500
    descend_steps: int = 1200
    gripper_steps: int = 300
    verify_steps: int = 40  # re-close to check the grip after lifting / transport
    home_after: bool = True
    home_steps: int = 2000
    orientation: Quat = TOP_DOWN
    #: Grasp / release yaws (rad, about world z, applied on top of `orientation`) tried in
    #: order; the one whose finger sweep stays farthest from the obstacles is used (ties: first).
    yaw_candidates: tuple[float, ...] = (0.0, math.pi / 2)
    #: Footprint of the open fingers around the end effector (m): half-length along the closing
    #: axis (finger opening / 2 + finger thickness, with margin) and half-width across it.
    finger_half_span: float = 0.06
    finger_half_width: float = 0.015
    #: Clearance (m) beyond which a yaw counts as fully clear (further is no better, so the
    #: first candidate is kept unless another one is clearer than this).
    yaw_clear_enough: float = 0.04


#: An obstacle the fingers should stay clear of: (position, size) of its bounding box.
Obstacle = tuple[Sequence[float], Sequence[float]]


class _Failure(Exception):
    """Internal: ends a primitive sequence with a reason."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class _Run:
    """Records primitive steps and turns motion failures into `_Failure`."""

    motion: MotionInterface
    params: PrimitiveParams
    records: list[PrimitiveRecord] = field(default_factory=list)
    steps: int = 0
    holding: bool = False  # the gripper may hold the object
    orientation: Quat | None = None  # current hand orientation (default: params.orientation)

    @property
    def orn(self) -> Quat:
        return self.params.orientation if self.orientation is None else self.orientation

    def move(self, name: str, xyz: Vec3, max_steps: int, guarded: bool = False) -> MotionStatus:
        res = self.motion.move_to_pose(
            Pose(xyz, self.orn), max_steps=max_steps, stop_on_contact=guarded
        )
        self._record(name, res.status.value, res.steps, res.position)
        if res.status == MotionStatus.CONTACT and guarded:
            return res.status
        if res.status != MotionStatus.OK:
            raise _Failure(
                MOTION_TO_FAILURE[res.status], f"{name}: {res.status.value} {res.message}".strip()
            )
        return res.status

    def gripper(self, name: str, closed: bool, max_steps: int) -> bool:
        res = self.motion.set_gripper(closed, max_steps=max_steps)
        self._record(name, "holding" if res.holding else res.status.value, res.steps)
        self.holding = closed and res.holding
        if not res.ok and not (closed and res.holding):
            raise _Failure(
                MOTION_TO_FAILURE.get(res.status, FailureReason.TIMEOUT),
                f"{name}: {res.status.value}",
            )
        return res.holding

    def _record(self, name: str, status: str, steps: int, position: Vec3 | None = None) -> None:
        where = None if position is None else tuple(round(float(v), 4) for v in position)
        self.records.append(PrimitiveRecord(name, status, int(steps), where))
        self.steps += int(steps)


def pick(
    motion: MotionInterface,
    position: Vec3,
    size: Vec3 = (0.04, 0.04, 0.04),
    *,
    params: PrimitiveParams | None = None,
    obstacles: Sequence[Obstacle] = (),
    _run: _Run | None = None,
) -> SkillResult:
    """Grasp the object whose bounding-box centre is `position` and lift it to the safe height.
    `obstacles` ((position, size) of neighbouring objects) choose the grasp yaw."""
    run = _run or _Run(motion, params or PrimitiveParams())
    call = SkillCall("pick")
    try:
        _pick(run, position, size, choose_orientation(run.params, position, obstacles, motion))
    except _Failure as f:
        _cleanup(run)
        return _result(call, run, f)
    return _result(call, run)


def place(
    motion: MotionInterface,
    surface_position: Vec3,
    size: Vec3 = (0.04, 0.04, 0.04),
    *,
    params: PrimitiveParams | None = None,
    obstacles: Sequence[Obstacle] = (),
    _run: _Run | None = None,
) -> SkillResult:
    """Put the held object down so that its bottom rests at `surface_position` (xy of the
    target, z of the supporting surface), with a guarded final descent; then retreat.
    `obstacles` ((position, size) of neighbouring objects) choose the release yaw."""
    run = _run or _Run(motion, params or PrimitiveParams(), holding=True)
    call = SkillCall("place")
    try:
        _place(
            run,
            surface_position,
            size,
            choose_orientation(run.params, surface_position, obstacles, motion),
        )
    except _Failure as f:
        _cleanup(run)
        return _result(call, run, f)
    return _result(call, run)


def pick_and_place(
    motion: MotionInterface,
    obj: SceneObject,
    surface_position: Vec3,
    call: SkillCall,
    *,
    params: PrimitiveParams | None = None,
    obstacles: Sequence[Obstacle] = (),
    held: bool = False,
) -> SkillResult:
    """Approach, descend, close, verify the grasp, lift, verify, transport, guarded descent,
    release, retreat, home. The result lists each step; the first failure ends the skill.
    `held`: the gripper already holds `obj`, so the pick is skipped (transport from where the
    hand is).

    `obstacles` are the other objects of the scene as (position, size) pairs (the moved object
    and the place target may be among them: objects under the grasp or release point are
    ignored). The grasp and release yaws keep the fingers farthest from them."""
    p = params or PrimitiveParams()
    run = _Run(motion, p, holding=held)
    x, y, z = obj.position
    sx, sy, sz = surface_position
    release_z = sz + obj.size[2] / 2 + p.grasp_offset + p.place_clearance
    others = [o for o in obstacles if not _same_xy(o[0], obj.position)]
    pick_orn = choose_orientation(p, obj.position, others, motion, z=z + p.grasp_offset)
    place_orn = choose_orientation(p, surface_position, others, motion, z=release_z)
    # Check the whole path is feasible (and allowed by a safety gate) before touching anything.
    path = (
        ()
        if held
        else (
            ("pick", (x, y, z + obj.size[2] / 2 + p.approach_height), False, pick_orn),
            ("grasp", (x, y, z + p.grasp_offset), False, pick_orn),
        )
    )
    path += (
        ("place", (sx, sy, release_z), False, place_orn),
        ("guarded descent", (sx, sy, release_z - p.guard_depth), True, place_orn),
        (
            "transport",
            (sx, sy, max(p.safe_height, release_z + p.approach_height)),
            False,
            place_orn,
        ),
    )
    if isinstance(motion, ChecksPoses):  # a safety-gate wrapper (SafeMotion) is one
        for label, xyz, guarded, orn in path:
            why = motion.check_pose(Pose(xyz, orn), guarded=guarded)
            if why is not None:
                return SkillResult(
                    call,
                    False,
                    FailureReason.REFUSED,
                    f"refused by the safety gate: {label}: {why}",
                )
    for label, xyz, guarded, orn in path:
        if guarded:
            continue
        if not motion.is_reachable(Pose(xyz, orn)):
            reason = FailureReason.UNREACHABLE
            return SkillResult(
                call,
                False,
                reason,
                f"{label} pose {tuple(round(v, 3) for v in xyz)} is not reachable",
            )
    try:
        if not held:
            _pick(run, obj.position, obj.size, pick_orn)
        _place(run, surface_position, obj.size, place_orn)
    except _Failure as f:
        _cleanup(run)
        return _result(call, run, f)
    return _result(call, run)


# -- grasp / release yaw ------------------------------------------------------------------------
def yaw_orientation(base: Quat, yaw: float) -> Quat:
    """`base` turned by `yaw` (rad) about the world z axis."""
    c, s = math.cos(yaw / 2), math.sin(yaw / 2)
    bx, by, bz, bw = base
    # (0, 0, s, c) * (bx, by, bz, bw)
    return (c * bx - s * by, c * by + s * bx, c * bz + s * bw, c * bw - s * bz)


def finger_axis(orientation: Quat) -> tuple[float, float]:
    """Unit xy direction in which the fingers close for a hand `orientation` (the driver
    convention: `TOP_DOWN` closes along world y, i.e. the hand frame's y axis)."""
    x, y, z, w = orientation
    # Second column of the rotation matrix (the hand's y axis in the world).
    ax, ay = 2 * (x * y - w * z), 1 - 2 * (x * x + z * z)
    n = math.hypot(ax, ay) or 1.0
    return ax / n, ay / n


def finger_clearance(
    params: PrimitiveParams,
    centre: Sequence[float],
    orientation: Quat,
    obstacles: Sequence[Obstacle],
) -> float:
    """Smallest xy gap (m) between the open fingers' footprint at `centre` and an obstacle's
    footprint (a disc of half its larger bounding-box side); inf without obstacles."""
    ax, ay = finger_axis(orientation)
    best = math.inf
    for pos, size in obstacles:
        dx, dy = float(pos[0]) - float(centre[0]), float(pos[1]) - float(centre[1])
        along, across = abs(dx * ax + dy * ay), abs(-dx * ay + dy * ax)
        gap = math.hypot(
            max(0.0, along - params.finger_half_span), max(0.0, across - params.finger_half_width)
        )
        best = min(best, gap - max(float(size[0]), float(size[1])) / 2)
    return best


def choose_orientation(
    params: PrimitiveParams,
    centre: Sequence[float],
    obstacles: Sequence[Obstacle],
    motion: MotionInterface | None = None,
    *,
    z: float | None = None,
) -> Quat:
    """The hand orientation (one of `params.yaw_candidates`) whose fingers stay farthest from
    `obstacles` around `centre`. Obstacles under the centre (the support, the target) are
    ignored; a clearance beyond `yaw_clear_enough` counts as clear, and ties keep the first
    candidate. With `motion`, candidates whose pose at `z` is not reachable are skipped."""
    obstacles = [o for o in obstacles if not _same_xy(o[0], centre)]
    candidates = [yaw_orientation(params.orientation, yaw) for yaw in params.yaw_candidates]
    if not obstacles or len(candidates) < 2:
        return candidates[0] if candidates else params.orientation
    best, best_score = candidates[0], -math.inf
    for orn in candidates:
        score = min(finger_clearance(params, centre, orn, obstacles), params.yaw_clear_enough)
        if score <= best_score + 1e-9:
            continue
        if motion is not None and z is not None and orn is not candidates[0]:
            if not motion.is_reachable(Pose((float(centre[0]), float(centre[1]), z), orn)):
                continue
        best, best_score = orn, score
    return best


def _same_xy(a: Sequence[float], b: Sequence[float], tol: float = 0.015) -> bool:
    return math.hypot(float(a[0]) - float(b[0]), float(a[1]) - float(b[1])) < tol


# -- the sequences ------------------------------------------------------------------------------
def _pick(run: _Run, position: Vec3, size: Vec3, orientation: Quat | None = None) -> None:
    p = run.params
    run.orientation = orientation
    x, y, z = (float(v) for v in position)
    top = z + size[2] / 2
    run.gripper("open", False, p.gripper_steps)
    run.move("approach", (x, y, max(top + p.approach_height, p.safe_height)), p.move_steps)
    run.move("pre_grasp", (x, y, top + p.approach_height / 2), p.move_steps)
    run.move("descend", (x, y, z + p.grasp_offset), p.descend_steps)
    if not run.gripper("close", True, p.gripper_steps):
        raise _Failure(FailureReason.GRASP_MISSED, "the gripper closed on nothing")
    run.move("lift", (x, y, max(p.safe_height, top + p.approach_height)), p.move_steps)
    if not run.gripper("verify_grasp", True, p.verify_steps):
        raise _Failure(FailureReason.DROPPED, "the object slipped out while lifting")


def _place(run: _Run, surface_position: Vec3, size: Vec3, orientation: Quat | None = None) -> None:
    p = run.params
    if orientation is not None:
        run.orientation = orientation
    x, y, z = (float(v) for v in surface_position)
    release_z = z + size[2] / 2 + p.grasp_offset + p.place_clearance
    run.move("transport", (x, y, max(p.safe_height, release_z + p.approach_height)), p.move_steps)
    if not run.gripper("verify_transport", True, p.verify_steps):
        raise _Failure(FailureReason.DROPPED, "the object was dropped during transport")
    run.move("pre_place", (x, y, release_z + p.approach_height / 2), p.move_steps)
    run.move("guarded_descent", (x, y, release_z - p.guard_depth), p.descend_steps, guarded=True)
    run.gripper("release", False, p.gripper_steps)
    run.move("retreat", (x, y, release_z + p.retreat_height), p.move_steps)
    if p.home_after:
        _home(run)


def _home(run: _Run) -> None:
    res = run.motion.home(max_steps=run.params.home_steps)
    run._record("home", res.status.value, res.steps, res.position)
    if res.status != MotionStatus.OK:
        raise _Failure(
            MOTION_TO_FAILURE.get(res.status, FailureReason.TIMEOUT), f"home: {res.message}"
        )


def _cleanup(run: _Run) -> None:
    """After a failure: let go of whatever may be held and move up, without raising."""
    try:
        if run.holding or (run.records and run.records[-1].name in ("close", "verify_grasp")):
            run.gripper("cleanup_open", False, run.params.gripper_steps)
        if isinstance(run.motion, ReportsPosition):
            x, y, z = run.motion.ee_position()
            run.motion.move_to_pose(
                Pose((x, y, max(z, run.params.safe_height)), run.orn),
                max_steps=run.params.move_steps,
            )
    except _Failure:
        pass


def _result(call: SkillCall, run: _Run, failure: _Failure | None = None) -> SkillResult:
    if failure is None:
        return SkillResult(call, True, steps=run.steps, primitives=tuple(run.records))
    return SkillResult(
        call, False, failure.reason, failure.message, steps=run.steps, primitives=tuple(run.records)
    )


# -- push ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PushParams:
    """Geometry and step budgets of `push` (heights of the end effector, metres)."""

    backoff: float = 0.03  # gap between the block's face and the end effector at the start
    #: Push height as a fraction of the block's height above its bottom (the table).
    height_fraction: float = 1 / 3
    #: Distance (m) from the end effector to the front of the closed fingers along the push:
    #: the block starts moving once the end effector is this far from its face.
    contact_offset: float = 0.011
    segment: float = 0.01  # the push is a chain of moves this long (slow: eased at each end)
    segment_steps: int = 400
    release: float = 0.01  # back off this far along -direction before lifting
    approach_height: float = 0.08  # above the block's top, at the start point
    retreat_height: float = 0.10  # above the block's top, after the push


def push_orientation(
    base: Quat, direction_xy: Sequence[float], at: Sequence[float] | None = None
) -> Quat:
    """`base` turned so that the closed fingers sit side by side across the push direction.
    The two such yaws (half a turn apart) are folded to within a quarter turn of the bearing of
    `at` (xy seen from the robot base at the origin; default: straight ahead), which keeps the
    wrist away from its joint limit on the robot's sides."""
    ref = 0.0 if at is None else math.atan2(float(at[1]), float(at[0]))
    yaw = math.atan2(float(direction_xy[1]), float(direction_xy[0]))
    while yaw > ref + math.pi / 2 + 1e-9:
        yaw -= math.pi
    while yaw <= ref - math.pi / 2 + 1e-9:
        yaw += math.pi
    return yaw_orientation(base, yaw)


def push_waypoints(
    obj_position: Vec3,
    obj_size: Vec3,
    direction_xy: Sequence[float],
    distance: float,
    push: PushParams | None = None,
) -> tuple[Vec3, Vec3]:
    """(start, end) end-effector positions of a push at the push height: `start` is behind the
    object (half its size + `backoff`), `end` where the fingers leave the object once it has
    moved by `distance`."""
    q = push or PushParams()
    dx, dy = _unit(direction_xy)
    x, y, z = (float(v) for v in obj_position)
    half = _half_extent(obj_size, (dx, dy))
    bottom = z - float(obj_size[2]) / 2
    h = bottom + q.height_fraction * float(obj_size[2])
    back = half + q.backoff
    travel = distance + q.backoff - q.contact_offset
    start = (x - dx * back, y - dy * back, h)
    end = (start[0] + dx * travel, start[1] + dy * travel, h)
    return start, end


def push(
    motion: MotionInterface,
    obj_position: Vec3,
    obj_size: Vec3,
    direction_xy: Sequence[float],
    distance: float,
    *,
    params: PrimitiveParams | None = None,
    push_params: PushParams | None = None,
    obstacles: Sequence[Obstacle] | None = None,
    call: SkillCall,
) -> SkillResult:
    """Push the object at `obj_position` by `distance` along the unit xy `direction_xy`; the
    result is recorded as `call`.

    Close the gripper, move above a start point behind the object, guarded descent to the push
    height (any contact there is a collision: the start point is not over the object), push
    along the direction in short slow moves, back off, retreat up, home. `obstacles` ((position,
    size) of the other objects) are checked against the start point before anything moves."""
    p = params or PrimitiveParams()
    q = push_params or PushParams()
    run = _Run(motion, p)
    d = _unit(direction_xy)
    start, end = push_waypoints(obj_position, obj_size, d, distance, q)
    top = float(obj_position[2]) + float(obj_size[2]) / 2
    orn = push_orientation(p.orientation, d, start)
    run.orientation = orn
    above = (start[0], start[1], max(top + q.approach_height, start[2] + q.approach_height))
    for pos, size in obstacles or ():
        if _same_xy(pos, obj_position):
            continue
        gap = math.hypot(float(pos[0]) - start[0], float(pos[1]) - start[1])
        if gap < max(float(size[0]), float(size[1])) / 2 + p.finger_half_width + 0.005:
            return SkillResult(
                call, False, FailureReason.COLLISION, "an obstacle is at the push start point"
            )
    path = (("approach", above, False), ("descend", start, True), ("push", end, False))
    if isinstance(motion, ChecksPoses):
        for label, xyz, guarded in path:
            why = motion.check_pose(Pose(xyz, orn), guarded=guarded)
            if why is not None:
                return SkillResult(
                    call,
                    False,
                    FailureReason.REFUSED,
                    f"refused by the safety gate: {label}: {why}",
                )
    for label, xyz, _ in path:
        if not motion.is_reachable(Pose(xyz, orn)):
            return SkillResult(
                call,
                False,
                FailureReason.UNREACHABLE,
                f"{label} pose {tuple(round(v, 3) for v in xyz)} is not reachable",
            )
    try:
        run.gripper("close", True, p.gripper_steps)
        if run.holding:
            raise _Failure(FailureReason.INVALID_TARGET, "the gripper is holding something")
        run.move("approach", above, p.move_steps)
        if run.move("descend", start, p.descend_steps, guarded=True) == MotionStatus.CONTACT:
            raise _Failure(
                FailureReason.COLLISION, "descend: contact before reaching the push height"
            )
        _push_segments(run, start, end, q)
        run.move(
            "release", (end[0] - d[0] * q.release, end[1] - d[1] * q.release, end[2]), p.move_steps
        )
        run.move(
            "retreat",
            (end[0] - d[0] * q.release, end[1] - d[1] * q.release, top + q.retreat_height),
            p.move_steps,
        )
        if p.home_after:
            _home(run)
    except _Failure as f:
        _cleanup(run)
        return _result(call, run, f)
    return _result(call, run)


def _push_segments(run: _Run, start: Vec3, end: Vec3, q: PushParams) -> None:
    """The push itself as short moves (each eased in and out: slow), recorded as one "push"."""
    travel = math.hypot(end[0] - start[0], end[1] - start[1])
    n = max(1, math.ceil(travel / q.segment - 1e-9))
    steps = 0
    for i in range(1, n + 1):
        f = i / n
        xyz = (start[0] + (end[0] - start[0]) * f, start[1] + (end[1] - start[1]) * f, start[2])
        res = run.motion.move_to_pose(Pose(xyz, run.orn), max_steps=q.segment_steps)
        steps += res.steps
        if res.status != MotionStatus.OK:
            run._record("push", res.status.value, steps, res.position)
            raise _Failure(
                MOTION_TO_FAILURE[res.status], f"push: {res.status.value} {res.message}".strip()
            )
    run._record("push", MotionStatus.OK.value, steps, res.position)


def _unit(v: Sequence[float]) -> tuple[float, float]:
    x, y = float(v[0]), float(v[1])
    n = math.hypot(x, y)
    if n < 1e-9:
        raise ValueError("push direction must be a non-zero xy vector")
    return x / n, y / n


def _half_extent(size: Sequence[float], d: tuple[float, float]) -> float:
    """Half the object's (axis-aligned) bounding box extent along unit direction `d`."""
    return (abs(d[0]) * float(size[0]) + abs(d[1]) * float(size[1])) / 2

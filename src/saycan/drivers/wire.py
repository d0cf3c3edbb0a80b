"""The robot-host protocol: msgpack messages over ZeroMQ, one definition for both ends.

Every message is a msgpack map carrying `v` (the protocol version: a host and a client of
different versions refuse each other with one clear line) and `token` (the shared secret,
compared in constant time on the host). Requests add `id`, `op`, `session` and `args`;
replies echo `id` and carry `ok` with `result`, or `error` (a kind) and `message`.

Images travel compressed and lossless, so perception sees over the wire exactly what it sees
next to the arm: RGB as PNG, depth as zlib-compressed float32.
"""

from __future__ import annotations

import functools
import hmac
import io
import math
import zlib
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

import msgpack
import numpy as np

from saycan.drivers.types import (
    CameraInfo,
    GripperResult,
    MotionResult,
    MotionStatus,
    ObjectState,
    Observation,
    Pose,
    Workcell,
)
from saycan.errors import ConfigError, DriverError
from saycan.sim.scene_spec import ObjectSpec

#: Bumped whenever a message's meaning changes; both ends must speak the same one.
PROTOCOL_VERSION = 1
#: The most control steps one motion may be given (7 min at a 240 Hz control rate).
MAX_STEPS = 100_000
#: Requests larger than this are refused unread by the host (a scene reset is a few kB).
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
#: Replies the client accepts (a 320x240 RGB-D frame is ~150 kB packed; a long episode's
#: video in debug mode a few tens of MB).
MAX_REPLY_BYTES = 512 * 1024 * 1024


class ProtocolError(DriverError):
    """A message that is not this protocol (garbage, another version, a missing field)."""


def pack(message: dict[str, Any]) -> bytes:
    return msgpack.packb(message, use_bin_type=True)


def unpack(raw: bytes, limit: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """Decode one message; anything but a map of this protocol's version is refused."""
    if len(raw) > limit:
        raise ProtocolError(f"message of {len(raw)} bytes is over the {limit} limit")
    try:
        message = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:  # noqa: BLE001 - msgpack raises several types for bad bytes
        raise ProtocolError(f"not a msgpack message ({type(exc).__name__})") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a map")
    version = message.get("v")
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version mismatch: this end speaks {PROTOCOL_VERSION}, the other "
            f"{short_repr(version)}; run the same saycan version on the planner's and the arm's "
            "computer"
        )
    return message


def request_shape_error(message: dict[str, Any]) -> str | None:
    """What is wrong with a request's fields (None: nothing), checked before any is used:
    `op` a string, `session` a string or absent, `args` a map or absent."""
    if not isinstance(message.get("op"), str):
        return "op must be a string"
    if not isinstance(message.get("session"), (str, type(None))):
        return "session must be a string"
    if not isinstance(message.get("args"), (dict, type(None))):
        return "args must be a map"
    return None


def seconds(name: str, value: Any, *, positive: bool) -> float:
    """A duration from either end's configuration: a finite number, > 0 or >= 0 (a NaN
    timeout is never exceeded, an infinite one overflows ZeroMQ's milliseconds)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (positive and value == 0)
    ):
        raise ConfigError(
            f"{name} must be a finite number {'> 0' if positive else '>= 0'} "
            f"(seconds), got {short_repr(value)}"
        )
    return float(value)


def short_repr(value: Any, limit: int = 40) -> str:
    """`repr(value)` cut to `limit` characters: what the other end sent goes into replies and
    the host's record, and a 30 MB `v` must not become a 30 MB log line for each message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def token_matches(given: Any, expected: str) -> bool:
    """Constant-time comparison, so timing reveals nothing about the secret."""
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


# -- values --------------------------------------------------------------------------------------
T = TypeVar("T")


def decoder(fn: Callable[..., T]) -> Callable[..., T]:
    """A value read from the other end: whatever that end sent, a field missing or of the wrong
    type is one `ProtocolError` line here, never a traceback."""

    @functools.wraps(fn)
    def read(*args: Any) -> T:
        try:
            return fn(*args)
        except ProtocolError:
            raise
        except (
            KeyError,
            IndexError,
            TypeError,
            ValueError,
            AttributeError,
            zlib.error,
            OSError,
        ) as exc:
            raise ProtocolError(
                f"malformed {fn.__name__.removesuffix('_from')} from the other "
                f"end ({type(exc).__name__}: {exc})"
            ) from None

    return read


def png_bytes(rgb: np.ndarray) -> bytes:
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", np.ascontiguousarray(rgb, dtype=np.uint8), extension=".png")


@decoder
def rgb_from_png(data: bytes) -> np.ndarray:
    import imageio.v3 as iio

    return np.asarray(iio.imread(io.BytesIO(data), extension=".png"), dtype=np.uint8)


def depth_bytes(depth: np.ndarray) -> dict[str, Any]:
    d = np.ascontiguousarray(depth, dtype=np.float32)
    return {"zlib": zlib.compress(d.tobytes(), 1), "shape": list(d.shape)}


@decoder
def depth_from_bytes(data: dict[str, Any]) -> np.ndarray:
    shape = tuple(int(v) for v in data["shape"])
    size = 4 * int(np.prod(shape, dtype=np.int64)) if all(v >= 0 for v in shape) else -1
    if not 0 <= size <= MAX_REPLY_BYTES:
        raise ProtocolError(f"depth image of shape {shape} refused")
    # at most the bytes the shape needs: a few kB of zeros cannot inflate to gigabytes here
    raw = zlib.decompressobj().decompress(data["zlib"], size + 1)
    if len(raw) != size:
        raise ProtocolError(f"depth image of {len(raw)} bytes for shape {shape}")
    return np.frombuffer(raw, dtype=np.float32).reshape(shape).copy()


def camera_dict(cam: CameraInfo) -> dict[str, Any]:
    return {
        "width": cam.width,
        "height": cam.height,
        "near": cam.near,
        "far": cam.far,
        "intrinsics": np.asarray(cam.intrinsics, float).tolist(),
        "world_from_camera": np.asarray(cam.world_from_camera, float).tolist(),
    }


@decoder
def camera_from(d: dict[str, Any]) -> CameraInfo:
    return CameraInfo(
        int(d["width"]),
        int(d["height"]),
        np.asarray(d["intrinsics"], float),
        np.asarray(d["world_from_camera"], float),
        float(d["near"]),
        float(d["far"]),
    )


def state_dict(s: ObjectState) -> dict[str, Any]:
    return asdict(s)


@decoder
def state_from(d: dict[str, Any]) -> ObjectState:
    return ObjectState(
        d["name"],
        d["category"],
        d["colour"],
        tuple(d["position"]),
        tuple(d["orientation"]),
        tuple(d["size"]),
    )


def observation_dict(obs: Observation, *, ground_truth: bool) -> dict[str, Any]:
    """The observation for the wire; ground truth only when the host is in debug mode, and
    never the driver's `extras` (simulator internals such as body ids)."""
    gt = obs.ground_truth if ground_truth else None
    return {
        "rgb": None if obs.rgb is None else png_bytes(obs.rgb),
        "depth": None if obs.depth is None else depth_bytes(obs.depth),
        "camera": None if obs.camera is None else camera_dict(obs.camera),
        "joint_positions": np.asarray(obs.joint_positions, float).tolist(),
        "gripper_width": float(obs.gripper_width),
        "ee_position": [float(v) for v in obs.ee_position],
        "step": int(obs.step),
        "gripper_holding": bool(obs.gripper_holding),
        "ground_truth": None if gt is None else [state_dict(s) for s in gt],
    }


@decoder
def observation_from(d: dict[str, Any]) -> Observation:
    gt = d.get("ground_truth")
    return Observation(
        rgb=None if d["rgb"] is None else rgb_from_png(d["rgb"]),
        depth=None if d["depth"] is None else depth_from_bytes(d["depth"]),
        camera=None if d["camera"] is None else camera_from(d["camera"]),
        joint_positions=np.asarray(d["joint_positions"], dtype=float),
        gripper_width=float(d["gripper_width"]),
        ee_position=tuple(float(v) for v in d["ee_position"]),
        step=int(d["step"]),
        gripper_holding=bool(d["gripper_holding"]),
        ground_truth=None if gt is None else tuple(state_from(s) for s in gt),
    )


def pose_dict(pose: Pose) -> dict[str, Any]:
    return {"position": list(pose.position), "orientation": list(pose.orientation)}


def _numbers(values: Any, n: int, what: str) -> tuple[float, ...]:
    """`n` numbers (strings, booleans and nested values are refused: `float("0.5")` would
    accept what no client sends)."""
    if not isinstance(values, (list, tuple)) or len(values) != n:
        raise ProtocolError(f"bad pose: {what} must be a list of {n} numbers")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ProtocolError(f"bad pose: {what} must hold numbers only")
    return tuple(float(v) for v in values)


@decoder
def pose_from(d: Any) -> Pose:
    """A pose of the right shape; whether it is one an arm can take is `pose_problem`'s."""
    if not isinstance(d, dict):
        raise ProtocolError("a pose must be a map with position and orientation")
    return Pose(
        _numbers(d.get("position"), 3, "position"), _numbers(d.get("orientation"), 4, "orientation")
    )


def pose_problem(pose: Pose) -> str | None:
    """Why no arm is ever sent to `pose` (None: nothing): a NaN or infinite coordinate, or a
    quaternion of zero length (no rotation at all)."""
    if not all(np.isfinite(pose.position)) or not all(np.isfinite(pose.orientation)):
        return "a non-finite target"
    if float(np.linalg.norm(pose.orientation)) < 1e-6:
        return "a zero-length orientation quaternion"
    return None


def flag_from(args: dict[str, Any], key: str, default: bool | None = None) -> bool:
    """A yes/no argument: only a boolean (the string "no" is truthy, and would close a gripper)."""
    value = args.get(key, default)
    if not isinstance(value, bool):
        raise ProtocolError(f"{key} must be true or false, got {short_repr(value)}")
    return value


def steps_from(args: dict[str, Any], default: int) -> int:
    """A motion's step budget: a whole number in [1, MAX_STEPS] (a budget of 10**18 would hold
    the driver thread, and every later command, for as long as the motion cannot converge)."""
    steps = args.get("max_steps", default)
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= MAX_STEPS:
        raise ProtocolError(
            f"max_steps must be a whole number in [1, {MAX_STEPS}], got {short_repr(steps)}"
        )
    return steps


def motion_dict(r: MotionResult) -> dict[str, Any]:
    pos = None if r.position is None else [float(v) for v in r.position]
    return {"status": r.status.value, "steps": int(r.steps), "position": pos, "message": r.message}


@decoder
def motion_from(d: dict[str, Any]) -> MotionResult:
    pos = d.get("position")
    return MotionResult(
        MotionStatus(d["status"]),
        int(d["steps"]),
        None if pos is None else tuple(pos),
        str(d.get("message", "")),
    )


def gripper_dict(r: GripperResult) -> dict[str, Any]:
    return {
        "status": r.status.value,
        "closed": bool(r.closed),
        "width": float(r.width),
        "holding": bool(r.holding),
        "steps": int(r.steps),
    }


@decoder
def gripper_from(d: dict[str, Any]) -> GripperResult:
    return GripperResult(
        MotionStatus(d["status"]),
        bool(d["closed"]),
        float(d["width"]),
        bool(d["holding"]),
        int(d["steps"]),
    )


def workcell_dict(cell: Workcell | None) -> dict[str, Any] | None:
    return (
        None
        if cell is None
        else {"low": list(cell.low), "high": list(cell.high), "what": cell.what}
    )


@decoder
def workcell_from(d: dict[str, Any] | None) -> Workcell | None:
    return None if d is None else Workcell(tuple(d["low"]), tuple(d["high"]), str(d["what"]))


def spec_dict(s: ObjectSpec) -> dict[str, Any]:
    return asdict(s)


@decoder
def spec_from(d: dict[str, Any]) -> ObjectSpec:
    return ObjectSpec(**{**d, "xy": tuple(d["xy"])})

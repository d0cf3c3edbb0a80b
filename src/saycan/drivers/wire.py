"""The robot-host protocol: msgpack messages over ZeroMQ, one definition for both ends.

Every message is a msgpack map carrying `v` (the protocol version: a host and a client of
different versions refuse each other with one clear line) and `token` (the shared secret,
compared in constant time on the host). Requests add `id`, `op`, `session` and `args`;
replies echo `id` and carry `ok` with `result`, or `error` (a kind) and `message`.

Images travel compressed and lossless, so perception sees over the wire exactly what it sees
next to the arm: RGB as PNG, depth as zlib-compressed float32.
"""

from __future__ import annotations

import hmac
import io
import zlib
from dataclasses import asdict
from typing import Any

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
from saycan.errors import DriverError
from saycan.sim.scene_spec import ObjectSpec

#: Bumped whenever a message's meaning changes; both ends must speak the same one.
PROTOCOL_VERSION = 1
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
            f"{version!r}; run the same saycan version on the planner's and the arm's computer"
        )
    return message


def token_matches(given: Any, expected: str) -> bool:
    """Constant-time comparison, so timing reveals nothing about the secret."""
    if not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


# -- values --------------------------------------------------------------------------------------
def png_bytes(rgb: np.ndarray) -> bytes:
    import imageio.v3 as iio

    return iio.imwrite("<bytes>", np.ascontiguousarray(rgb, dtype=np.uint8), extension=".png")


def rgb_from_png(data: bytes) -> np.ndarray:
    import imageio.v3 as iio

    return np.asarray(iio.imread(io.BytesIO(data), extension=".png"), dtype=np.uint8)


def depth_bytes(depth: np.ndarray) -> dict[str, Any]:
    d = np.ascontiguousarray(depth, dtype=np.float32)
    return {"zlib": zlib.compress(d.tobytes(), 1), "shape": list(d.shape)}


def depth_from_bytes(data: dict[str, Any]) -> np.ndarray:
    shape = tuple(int(v) for v in data["shape"])
    return np.frombuffer(zlib.decompress(data["zlib"]), dtype=np.float32).reshape(shape).copy()


def camera_dict(cam: CameraInfo) -> dict[str, Any]:
    return {
        "width": cam.width,
        "height": cam.height,
        "near": cam.near,
        "far": cam.far,
        "intrinsics": np.asarray(cam.intrinsics, float).tolist(),
        "world_from_camera": np.asarray(cam.world_from_camera, float).tolist(),
    }


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


def pose_from(d: Any) -> Pose:
    if not isinstance(d, dict):
        raise ProtocolError("a pose must be a map with position and orientation")
    try:
        return Pose(tuple(d["position"]), tuple(d["orientation"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"bad pose: {exc}") from None


def motion_dict(r: MotionResult) -> dict[str, Any]:
    pos = None if r.position is None else [float(v) for v in r.position]
    return {"status": r.status.value, "steps": int(r.steps), "position": pos, "message": r.message}


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


def workcell_from(d: dict[str, Any] | None) -> Workcell | None:
    return None if d is None else Workcell(tuple(d["low"]), tuple(d["high"]), str(d["what"]))


def spec_dict(s: ObjectSpec) -> dict[str, Any]:
    return asdict(s)


def spec_from(d: dict[str, Any]) -> ObjectSpec:
    return ObjectSpec(**{**d, "xy": tuple(d["xy"])})

"""A pinhole RGB-D camera in PyBullet with the intrinsics/extrinsics a real camera would report.

PyBullet thinks in OpenGL matrices; perception wants OpenCV conventions (K, world_from_camera
with x right, y down, z forward) and metric depth, so this module converts once, here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from saycan.drivers.types import CameraInfo

#: OpenGL camera axes (x right, y up, z backward) -> OpenCV axes (x right, y down, z forward).
_GL_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])


@dataclass(frozen=True)
class CameraConfig:
    """Where the camera is and what it sees. `up` is the world direction shown at image top."""

    eye: tuple[float, float, float] = (0.5, 0.0, 0.85)
    target: tuple[float, float, float] = (0.5, 0.0, 0.0)
    up: tuple[float, float, float] = (1.0, 0.0, 0.0)
    fovy_deg: float = 38.0
    width: int = 320
    height: int = 240
    near: float = 0.1
    far: float = 3.0


#: Looks straight down at the workspace (robot at the image bottom, its left on the image left);
#: the robot's home pose is outside the view.
TOP_DOWN_CAMERA = CameraConfig()
#: An oblique view of the robot and the table, for videos.
VIDEO_CAMERA = CameraConfig(
    eye=(1.35, 0.85, 0.95), target=(0.30, 0.0, 0.18), up=(0.0, 0.0, 1.0), fovy_deg=42.0
)


class Camera:
    """Renders RGB + metric depth with TinyRenderer (no GPU, works in DIRECT mode)."""

    def __init__(self, config: CameraConfig = TOP_DOWN_CAMERA, **overrides: object) -> None:
        if overrides:
            config = CameraConfig(**{**config.__dict__, **overrides})
        self.config = config
        c = config
        view = _look_at(
            np.asarray(c.eye, float), np.asarray(c.target, float), np.asarray(c.up, float)
        )
        self._view = tuple(view.T.reshape(-1))  # column-major, as PyBullet wants
        aspect = c.width / c.height
        self._projection = _perspective(c.fovy_deg, aspect, c.near, c.far)
        fy = c.height / (2.0 * math.tan(math.radians(c.fovy_deg) / 2.0))
        fx = fy  # square pixels: the horizontal fov follows from the aspect ratio
        # Pixel *centres* sit at integer coordinates (OpenCV), hence the -0.5.
        K = np.array([[fx, 0.0, c.width / 2 - 0.5], [0.0, fy, c.height / 2 - 0.5], [0.0, 0.0, 1.0]])
        world_from_camera = np.linalg.inv(view) @ _GL_TO_CV
        self.info = CameraInfo(
            width=c.width,
            height=c.height,
            intrinsics=K,
            world_from_camera=world_from_camera,
            near=c.near,
            far=c.far,
        )

    @property
    def width(self) -> int:
        return self.config.width

    @property
    def height(self) -> int:
        return self.config.height

    def render(
        self, client, *, depth: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None, CameraInfo]:
        """(rgb uint8 HxWx3, depth float32 HxW metres along the optical axis, CameraInfo)."""
        c = self.config
        _, _, rgba, zbuf, _ = client.getCameraImage(
            c.width,
            c.height,
            viewMatrix=self._view,
            projectionMatrix=self._projection,
            renderer=client.ER_TINY_RENDERER,
            flags=client.ER_NO_SEGMENTATION_MASK,
        )
        rgb = np.asarray(rgba, dtype=np.uint8).reshape(c.height, c.width, 4)[:, :, :3].copy()
        if not depth:
            return rgb, None, self.info
        z = np.asarray(zbuf, dtype=np.float64).reshape(c.height, c.width)
        metric = (c.far * c.near / (c.far - (c.far - c.near) * z)).astype(np.float32)
        return rgb, metric, self.info

    def segmentation(self, client) -> np.ndarray:
        """Body unique id per pixel (-1 for background): ground truth masks for tests/training."""
        c = self.config
        _, _, _, _, seg = client.getCameraImage(
            c.width,
            c.height,
            viewMatrix=self._view,
            projectionMatrix=self._projection,
            renderer=client.ER_TINY_RENDERER,
        )
        seg = np.asarray(seg, dtype=np.int64).reshape(c.height, c.width)
        return np.where(seg >= 0, seg & ((1 << 24) - 1), -1)


def project(info: CameraInfo, points_world: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """World points (N, 3) -> pixel coordinates (N, 2) as (u, v) = (column, row)."""
    pts = np.atleast_2d(np.asarray(points_world, dtype=float))
    cam_from_world = np.linalg.inv(info.world_from_camera)
    pc = (cam_from_world[:3, :3] @ pts.T).T + cam_from_world[:3, 3]
    uvw = (info.intrinsics @ pc.T).T
    return uvw[:, :2] / uvw[:, 2:3]


def deproject(info: CameraInfo, depth: np.ndarray, uv: Sequence[float]) -> np.ndarray:
    """Pixel (u, v) with its depth -> world point (3,)."""
    u, v = float(uv[0]), float(uv[1])
    z = float(depth[int(round(v)), int(round(u))])
    K = info.intrinsics
    pc = np.array([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z, 1.0])
    return (info.world_from_camera @ pc)[:3]


def _look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """OpenGL view matrix (world -> camera, camera looks along -z), row-major 4x4."""
    f = target - eye
    f /= np.linalg.norm(f)
    s = np.cross(f, up)
    s /= np.linalg.norm(s)
    u = np.cross(s, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = s, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def _perspective(fovy_deg: float, aspect: float, near: float, far: float) -> tuple[float, ...]:
    """OpenGL projection matrix, column-major (the layout computeProjectionMatrixFOV returns)."""
    f = 1.0 / math.tan(math.radians(fovy_deg) / 2.0)
    p = np.zeros((4, 4))
    p[0, 0] = f / aspect
    p[1, 1] = f
    p[2, 2] = (far + near) / (near - far)
    p[2, 3] = 2 * far * near / (near - far)
    p[3, 2] = -1.0
    return tuple(p.T.reshape(-1))

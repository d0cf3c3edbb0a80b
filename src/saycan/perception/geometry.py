"""From depth pixels to world points, and from an object's visible points to the position the
oracle reports (the centre of its bounding box).

A top-down camera sees an object's top surface, not its centre, so every camera-based backend
estimates the centre the same way here: find the top surface, then go down half the object's
height (a block's top face; a bowl's rim, whose circle also gives the bowl's centre in xy even
when something inside the bowl hides its floor).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from saycan.drivers.types import CameraInfo, Vec3

#: Points this close (m) below an object's highest visible points belong to its top surface.
TOP_BAND = {"block": 0.008, "bowl": 0.006}
#: A fitted bowl rim must have a radius in this range (m), else the rim points' mean is used.
RIM_RADIUS_RANGE = (0.045, 0.095)


def world_points(depth: np.ndarray, camera: CameraInfo) -> np.ndarray:
    """(H, W) metric depth along the optical axis -> (H, W, 3) world points (OpenCV pinhole)."""
    h, w = depth.shape
    K = camera.intrinsics
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    z = depth.astype(np.float64)
    pc = np.stack([(u - K[0, 2]) * z / K[0, 0], (v - K[1, 2]) * z / K[1, 1], z], axis=-1)
    T = np.asarray(camera.world_from_camera, dtype=np.float64)
    return pc @ T[:3, :3].T + T[:3, 3]


def circle_fit(xy: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Least-squares (Kasa) circle through points (N, 2); None when degenerate."""
    if len(xy) < 8:
        return None
    A = np.column_stack([2 * xy, np.ones(len(xy))])
    b = (xy**2).sum(axis=1)
    try:
        sol, *_ = np.linalg.lstsq(A, b, rcond=None)
    except np.linalg.LinAlgError:
        return None
    centre = sol[:2]
    r2 = sol[2] + centre @ centre
    return (centre, float(np.sqrt(r2))) if r2 > 0 else None


def top_surface(points: np.ndarray, category: str) -> np.ndarray:
    """The points (N, 3) within `TOP_BAND` of an object's highest visible points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(pts) == 0:
        return pts
    top_z = float(np.percentile(pts[:, 2], 95))
    return pts[pts[:, 2] > top_z - TOP_BAND.get(category, 0.008)]


def footprint(xy: np.ndarray) -> tuple[float, float, float]:
    """(long side, short side, area) of the smallest rotated rectangle around points (N, 2),
    and the area of their convex hull: how big and how square a surface is, at any yaw."""
    try:
        hull = ConvexHull(xy)
    except (QhullError, ValueError):  # fewer than 3 points, or all on a line
        span = float(np.ptp(xy, axis=0).max()) if len(xy) else 0.0
        return span, 0.0, 0.0
    corners = xy[hull.vertices]
    edges = np.roll(corners, -1, axis=0) - corners
    best = (np.inf, 0.0, 0.0)
    for angle in np.arctan2(
        edges[:, 1], edges[:, 0]
    ):  # the best rectangle has a side on a hull edge
        c, s = np.cos(angle), np.sin(angle)
        w, h = np.ptp(corners @ np.array([[c, -s], [s, c]]), axis=0)
        if w * h < best[0]:
            best = (w * h, max(w, h), min(w, h))
    return float(best[1]), float(best[2]), float(hull.volume)


def object_centre(points: np.ndarray, category: str, height: float) -> Vec3:
    """Centre of an object's bounding box from its visible world points (N, 3).

    Blocks: mean xy of the top face, top height minus half the block. Bowls: centre of the
    circle fitted through the rim, rim height minus half the bowl.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if len(pts) == 0:
        raise ValueError("no points")
    top_z = float(np.percentile(pts[:, 2], 95))
    band = TOP_BAND.get(category, 0.008)
    top = pts[pts[:, 2] > top_z - band]
    if len(top) == 0:
        top = pts
    xy = top[:, :2].mean(axis=0)
    if category == "bowl":
        fit = circle_fit(top[:, :2])
        if fit is not None and RIM_RADIUS_RANGE[0] <= fit[1] <= RIM_RADIUS_RANGE[1]:
            xy = fit[0]
    z = float(np.median(top[:, 2])) - height / 2
    return (float(xy[0]), float(xy[1]), z)

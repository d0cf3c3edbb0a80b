"""`perception=segmenter`: a small network trained on this simulator's images turns RGB-D pixels
into a `SceneDescription` (it never reads `Observation.ground_truth`).

Pipeline: per-pixel category and colour (`segmenter_net.TinyUNet`) -> instances as connected
regions of one (category, colour) -> 3D centre from depth and the camera (`geometry`) ->
relations and what the gripper holds, from `relations.py` like every other backend.
Objects are named "<colour> <category>", as the simulator and the tasks name them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from saycan.drivers.types import CameraInfo, Observation
from saycan.errors import ModelLoadError, SayCanError
from saycan.perception.geometry import (
    RIM_RADIUS_RANGE,
    circle_fit,
    footprint,
    object_centre,
    top_surface,
)
from saycan.perception.object_memory import ObjectMemory, holds_visible_block
from saycan.perception.relations import describe_scene
from saycan.perception.scene import SceneDescription, SceneObject
from saycan.perception.segmenter_net import TinyUNet, encode_input
from saycan.weights import check_finite
from saycan.world import (
    BOWL_INNER_RADIUS,
    CATEGORIES,
    HELD_DISTANCE,
    OFF_TABLE_Z,
    object_size,
    xy_distance,
)

#: The checkpoint that ships in the package (written by `saycan train perception`).
DEFAULT_CHECKPOINT = (
    Path(__file__).resolve().parents[1] / "assets" / "perception" / "segmenter.safetensors"
)
CHECKPOINT_FORMAT = 1
#: Parts of one object split by an occluder (the arm) lie within this distance (m) of its
#: largest part, per category, and are merged into it.
MERGE_RADIUS = {"block": 0.04, "bowl": 0.12}
#: Largest xy extent (m) of a block's top face (a 4 cm square seen at any yaw, plus a pixel
#: or two of slack), of all a block's visible points (sides included), and of a bowl's.
BLOCK_TOP_EXTENT = 0.065
BLOCK_EXTENT = 0.08
BOWL_EXTENT = 0.19
#: A block's top face is a 4 cm square: the smallest rotated rectangle around the visible part
#: of it has no side longer than this (m), and its area is at most this (m^2), however much of
#: it is hidden. Unknown shapes in a block's colour are often longer, or larger.
BLOCK_TOP_SIDE = 0.046
BLOCK_TOP_AREA = 0.0018

#: Two blocks (4 cm cubes) cannot have centres closer than this (m): a second block "found"
#: there is part of the first one given the wrong colour (dark sides read as gray), so the
#: region with fewer pixels is dropped.
MIN_BLOCK_SEPARATION = 0.03
#: Heights (m) of one region's points farther apart than this, with no point between, belong to
#: different things (see `main_layer`): the sides of a block or the wall of a bowl are seen as
#: a continuous run of heights, a fringe of the arm above it is not.
LAYER_GAP = 0.03
#: Nothing rests higher than this (m, a block's centre: a five-block tower) on the table; a
#: "block" found higher is part of the arm (grey links read as a gray block) unless the gripper
#: holds something there.
MAX_RESTING_Z = 0.20
#: Where the gripper is closed on something, pixels of any object class within this xy radius
#: (m) of the fingers and this height (m) of them are the held block (the hand hides most of
#: it; at that height the net, trained on few held blocks, often calls it "other").
HELD_SEARCH_RADIUS = 0.03
HELD_SEARCH_HEIGHT = 0.03
#: A block-labelled region smaller than this (full-resolution pixels) inside a bowl of its
#: colour is the bowl's floor (see `_bowl_fringe`).
FRINGE_PIXELS = 200


def metadata_path(checkpoint: Path) -> Path:
    return checkpoint.with_suffix(".json")


def load_segmenter(checkpoint: str | Path | None = None) -> tuple[TinyUNet, dict[str, Any]]:
    """The network (eval mode) and its metadata; any problem is a `ModelLoadError`."""
    from safetensors.torch import load_file

    path = Path(checkpoint) if checkpoint else DEFAULT_CHECKPOINT
    meta_path = metadata_path(path)
    hint = "train one with `saycan train perception`"
    for p in (path, meta_path):
        if not p.is_file():
            raise ModelLoadError(f"segmenter checkpoint file not found: {p} ({hint})")
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT}")
        arch = meta["arch"]
        model = TinyUNet(
            in_channels=int(arch["in_channels"]),
            widths=[int(w) for w in arch["widths"]],
            n_categories=len(meta["categories"]),
            n_colours=len(meta["colours"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"segmenter metadata {meta_path} is unusable: {exc}") from None
    try:
        state = load_file(str(path))
        check_finite(state, path)  # NaN weights would see an empty table, silently
        model.load_state_dict(state, strict=True)
        # Again as loaded: a float64 1e300 is finite in the file and inf once cast to float32.
        check_finite(model.state_dict(), path)
    except ModelLoadError:
        raise
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"segmenter checkpoint {path} is corrupt or incompatible: {first}"
        ) from None
    model.eval()
    return model, meta


class SegmenterPerception:
    """Camera-based perception with the project's own trained segmenter.

    `min_pixels`: smallest full-resolution region kept as an object (smaller ones are noise).
    `memory`: keep, per episode, blocks seen earlier that are now covered by a visible block or
    in the closed gripper (`object_memory`); `reset()` starts a new episode.
    """

    name = "segmenter"
    needs_images = True

    def __init__(
        self,
        checkpoint: str | None = None,
        min_pixels: int = 25,
        threads: int | None = 1,
        memory: bool = True,
    ):
        self.model, self.meta = load_segmenter(checkpoint)
        self.categories: list[str] = list(
            self.meta["categories"]
        )  # [background, block, bowl(, other)]
        self.colours: list[str] = list(self.meta["colours"])
        self.downscale = int(self.meta["input"]["downscale"])
        self.min_pixels = int(min_pixels)
        # A net this small gains nothing from more threads, and on a busy CPU extra OpenMP
        # threads make it ~20x slower; the setting is restored after each call (the LLM shares it).
        self.threads = int(threads) if threads else None
        self.memory = ObjectMemory() if memory else None

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """A new episode: forget the objects seen in the last one."""
        if self.memory is not None:
            self.memory.reset()

    # -- pixels -> labels -------------------------------------------------------------------
    def segment(
        self, rgb: np.ndarray, depth: np.ndarray, camera: CameraInfo
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Full-resolution (category id, colour id, confidence, world points) per pixel."""
        x, pts = encode_input(rgb, depth, camera, self.downscale)
        previous = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.no_grad():
                cat_logits, col_logits = self.model(torch.from_numpy(x)[None])
                size = rgb.shape[:2]
                cat_p = torch.softmax(_upsample(cat_logits, size), dim=1)[0]
                col_p = torch.softmax(_upsample(col_logits, size), dim=1)[0]
        finally:
            torch.set_num_threads(previous)
        cat_conf, cat = cat_p.max(dim=0)
        col_conf, col = col_p.max(dim=0)
        return cat.numpy(), col.numpy(), (cat_conf * col_conf).numpy(), pts

    # -- labels -> objects --------------------------------------------------------------------
    def detect(self, rgb: np.ndarray, depth: np.ndarray, camera: CameraInfo) -> list[SceneObject]:
        """Objects visible in one frame (no proprioception, no memory)."""
        return self._objects(*self.segment(rgb, depth, camera))

    def _objects(
        self, cat: np.ndarray, col: np.ndarray, conf: np.ndarray, pts: np.ndarray
    ) -> list[SceneObject]:
        objects: list[SceneObject] = []
        pixels: list[int] = []
        # Bowls first: a block region is judged against the bowls found (`_bowl_fringe`).
        # Only nameable categories become objects; "background" and "other" (things that are
        # neither a block nor a bowl, a class of their own in newer checkpoints) never do.
        nameable = [i for i, c in enumerate(self.categories) if c in CATEGORIES]
        order = sorted(nameable, key=lambda i: self.categories[i] != "bowl")
        for ci in order:
            category = self.categories[ci]
            size = object_size(category)
            is_cat = cat == ci
            for ki in np.unique(col[is_cat]):
                mask = self._object_mask(is_cat & (col == ki), pts, category)
                if mask is None:
                    continue
                inner = ndimage.binary_erosion(mask)
                use = inner if inner.sum() >= self.min_pixels // 2 else mask
                position = object_centre(pts[use], category, size[2])
                if position[2] < OFF_TABLE_Z:
                    continue
                colour = self.colours[int(ki)]
                if category == "block" and _bowl_fringe(position, int(mask.sum()), colour, objects):
                    continue
                objects.append(
                    SceneObject(
                        name=f"{colour} {category}",
                        category=category,
                        colour=colour,
                        position=position,
                        size=size,
                        confidence=float(conf[mask].mean()),
                    )
                )
                pixels.append(int(mask.sum()))
        objects = _drop_overlapping_blocks(objects, pixels)
        # Blocks before bowls, as the simulator lists them (the prompt shows this order).
        return sorted(objects, key=lambda o: self.categories.index(o.category))

    def _object_mask(self, mask: np.ndarray, pts: np.ndarray, category: str) -> np.ndarray | None:
        """The largest region of this (category, colour), plus nearby parts of the same object."""
        labels, n = ndimage.label(mask)
        if n == 0:
            return None
        sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
        regions = []
        for i in np.flatnonzero(sizes >= self.min_pixels):
            region = labels == i + 1
            region[region] = main_layer(pts[region][:, 2])
            if region.sum() >= self.min_pixels:
                regions.append(region)
        regions.sort(key=lambda r: -int(r.sum()))
        # The largest region shaped like the category is the object (names are unique, and an
        # unknown thing painted in a known colour must not take a block's name).
        first = next((i for i, r in enumerate(regions) if plausible_shape(pts[r], category)), None)
        if first is None:
            return None
        out = regions.pop(first)
        centre = pts[out][:, :2].mean(axis=0)
        for part in regions:
            if np.linalg.norm(pts[part][:, :2].mean(axis=0) - centre) < MERGE_RADIUS.get(
                category, 0.05
            ):
                out |= part
        return out

    def perceive(self, obs: Observation) -> SceneDescription:
        if obs.rgb is None or obs.depth is None or obs.camera is None:
            raise SayCanError("perception=segmenter needs an RGB-D camera image in the observation")
        labels = self.segment(obs.rgb, obs.depth, obs.camera)
        objects = _drop_arm(self._objects(*labels), obs.ee_position, obs.gripper_holding)
        if obs.gripper_holding and not holds_visible_block(objects, obs.ee_position):
            held = self._held_block(*labels, obs.ee_position)
            if held is not None and held.name not in {o.name for o in objects}:
                objects.append(held)
        if self.memory is not None:
            objects = self.memory.recall(objects, obs.ee_position, obs.gripper_holding)
        objects.sort(key=lambda o: self.categories.index(o.category))
        return describe_scene(objects, obs)

    def _held_block(
        self, cat: np.ndarray, col: np.ndarray, conf: np.ndarray, pts: np.ndarray, ee_position
    ) -> SceneObject | None:
        """The block in the closed gripper, from whatever of it shows between the fingers: its
        colour is the (confidence-weighted) majority of object-labelled pixels there; its
        centre is the fingers' (proprioception), where the hand holds it."""
        ee = np.asarray(ee_position, dtype=float)
        near = (
            (cat != self.categories.index("background"))
            & (np.linalg.norm(pts[..., :2] - ee[:2], axis=-1) < HELD_SEARCH_RADIUS)
            & (np.abs(pts[..., 2] - ee[2]) < HELD_SEARCH_HEIGHT)
        )
        if near.sum() < self.min_pixels:
            return None
        votes = np.bincount(col[near], weights=conf[near], minlength=len(self.colours))
        colour = self.colours[int(np.argmax(votes))]
        return SceneObject(
            name=f"{colour} block",
            category="block",
            colour=colour,
            position=(float(ee[0]), float(ee[1]), float(ee[2])),
            size=object_size("block"),
            confidence=float(conf[near].mean()),
        )


def _drop_arm(objects: list[SceneObject], ee_position, holding: bool) -> list[SceneObject]:
    """Drop "blocks" above `MAX_RESTING_Z` that are not in the closed gripper: the arm."""
    ee = np.asarray(ee_position, dtype=float)

    def in_hand(o: SceneObject) -> bool:
        return holding and float(np.linalg.norm(np.asarray(o.position) - ee)) < HELD_DISTANCE

    return [
        o for o in objects if o.category != "block" or o.position[2] <= MAX_RESTING_Z or in_hand(o)
    ]


def _drop_overlapping_blocks(objects: list[SceneObject], pixels: list[int]) -> list[SceneObject]:
    """Keep, of blocks closer than `MIN_BLOCK_SEPARATION`, the one seen with most pixels."""
    kept: list[SceneObject] = []
    for i in sorted(range(len(objects)), key=lambda i: -pixels[i] * objects[i].confidence):
        o = objects[i]
        if o.category == "block" and any(
            k.category == "block"
            and np.linalg.norm(np.subtract(k.position, o.position)) < MIN_BLOCK_SEPARATION
            for k in kept
        ):
            continue
        kept.append(o)
    return [o for o in objects if o in kept]


def _bowl_fringe(position, pixels: int, colour: str, found: list[SceneObject]) -> bool:
    """A small 'block' region inside a bowl of its own colour is that bowl's floor around the
    block it holds (mislabelled at the block's edge), not a block: a real block shows a whole
    top face (~340 pixels at 320x240)."""
    return pixels < FRINGE_PIXELS and any(
        o.category == "bowl"
        and o.colour == colour
        and xy_distance(position, o.position) < BOWL_INNER_RADIUS
        for o in found
    )


def main_layer(z: np.ndarray) -> np.ndarray:
    """Which of a region's points (heights `z`, m) belong to its most populated height layer.

    Labels bleed a pixel or two past an object's outline (the net runs at half resolution), so
    a region also holds a fringe of whatever borders it in the image: the arm or a held block
    high above a table object, the table far below a held block. Those pixels lie across a
    height gap no single block or bowl has (`LAYER_GAP`) and would pull the object's top
    surface, extent and centre off by decimetres."""
    zs = np.sort(z)
    cuts = np.flatnonzero(np.diff(zs) > LAYER_GAP)
    if len(cuts) == 0:
        return np.ones(len(z), dtype=bool)
    starts = np.concatenate([[0], cuts + 1])
    stops = np.concatenate([cuts + 1, [len(zs)]])
    k = int(np.argmax(stops - starts))
    return (z >= zs[starts[k]]) & (z <= zs[stops[k] - 1])


def plausible_shape(points: np.ndarray, category: str) -> bool:
    """Does a region's 3D extent fit the category's known shape? A block's top face is at most
    a 4 cm square at any yaw; a bowl's rim fits a circle of about its radius. (Regions may be
    partly hidden, so only upper bounds and the rim fit are checked.)"""
    if len(points) == 0:
        return False
    top = top_surface(points, category)
    if category == "block":
        extent = np.ptp(top[:, :2], axis=0).max() if len(top) else 1.0
        if extent > BLOCK_TOP_EXTENT or np.ptp(points[:, :2], axis=0).max() > BLOCK_EXTENT:
            return False
        long_side, _, area = footprint(top[:, :2])
        return bool(long_side <= BLOCK_TOP_SIDE and area <= BLOCK_TOP_AREA)
    if category == "bowl":
        fit = circle_fit(top[:, :2])
        extent = np.ptp(points[:, :2], axis=0).max()
        return bool(
            fit is not None
            and RIM_RADIUS_RANGE[0] <= fit[1] <= RIM_RADIUS_RANGE[1]
            and extent <= BOWL_EXTENT
        )
    return True


def _upsample(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return torch.nn.functional.interpolate(logits, size=size, mode="bilinear", align_corners=False)

"""Rendered scenes for the perception segmenter: its training data and its benchmark.

Each scene comes from one seed alone: either a packaged task's sampled scene (stacks, blocks in
bowls, out-of-reach objects, a block in the gripper) or a random clutter of 1-5 blocks and 0-3
bowls with random stacks and blocks in bowls; optionally 1-3 distractor objects from
`pybullet_data/random_urdfs`, labelled `OTHER` (shapes the segmenter must learn are neither
blocks nor bowls, whatever their colour). The world is built by
the real `TabletopEnv` and rendered by its top-down RGB-D camera; labels come from PyBullet's
segmentation buffer (body id -> category, colour), ground truth from the env.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pybullet_data

from saycan.drivers.types import CameraInfo, ObjectState
from saycan.sim.env import TabletopEnv
from saycan.sim.layout import sample_placements
from saycan.sim.objects_catalog import CATEGORIES, COLOUR_NAMES
from saycan.sim.scene_spec import ObjectSpec
from saycan.sim.tasks import Task, available_tasks

#: Where random clutter is placed: the part of the table the top-down camera sees well.
CLUTTER_WORKSPACE = ((0.27, 0.75), (-0.32, 0.32))
#: Distractors keep this far (m) from named objects' centres, by category.
DISTRACTOR_CLEARANCE = {"block": 0.07, "bowl": 0.12}
#: The number of `random_urdfs` models (ids 000..999).
N_RANDOM_URDFS = 1000
#: Pixel label of "some other object" (a distractor): after background and CATEGORIES. An
#: explicit class, not background, because a raised coloured shape looks nothing like table:
#: calling it background taught the net little, and it took coloured distractors for blocks.
OTHER = 1 + len(CATEGORIES)


@dataclass
class RenderedScene:
    seed: int
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) float32 metres
    camera: CameraInfo
    category: np.ndarray  # (H, W) int64: 0 background, 1 + index in CATEGORIES, OTHER distractors
    colour: np.ndarray  # (H, W) int64: index in COLOUR_NAMES, -1 on background
    visible_pixels: dict[str, int]  # object name -> pixels of it in the image
    ground_truth: tuple[ObjectState, ...]
    ee_position: tuple[float, float, float]
    gripper_holding: bool
    distractors: int
    specs: tuple[ObjectSpec, ...] = ()  # what was built (no distractors)


def random_clutter(rng: np.random.Generator) -> list[ObjectSpec]:
    """1-5 blocks, 0-3 bowls (distinct colours per category), random stacks and blocks in bowls,
    sometimes a block in the gripper."""
    n_blocks, n_bowls = int(rng.integers(1, 6)), int(rng.integers(0, 4))
    block_colours = [COLOUR_NAMES[i] for i in rng.permutation(len(COLOUR_NAMES))[:n_blocks]]
    bowl_colours = [COLOUR_NAMES[i] for i in rng.permutation(len(COLOUR_NAMES))[:n_bowls]]
    bowls = [f"{c} bowl" for c in bowl_colours]
    supports: dict[str, str] = {}
    free_supports = list(bowls)  # one block per bowl, one block on a block
    on_table_blocks: list[str] = []
    for c in block_colours:
        name = f"{c} block"
        if free_supports and rng.random() < 0.35:
            support = free_supports.pop(int(rng.integers(len(free_supports))))
            supports[name] = support
        else:
            on_table_blocks.append(name)
        free_supports.append(name)
    on_table = on_table_blocks + bowls
    radii = [0.03 if n.endswith("block") else 0.075 for n in on_table]
    xy = sample_placements(
        rng, len(on_table), min_dist=0.08, workspace=CLUTTER_WORKSPACE, margin=0.03, radii=radii
    )
    held = None
    if on_table_blocks and rng.random() < 0.08:
        held = on_table_blocks[int(rng.integers(len(on_table_blocks)))]
    pos = dict(zip(on_table, xy))
    return [
        ObjectSpec(
            name=n,
            category=n.split()[-1],
            colour=n.split()[0],
            xy=pos.get(n, (0.5, 0.0)),
            on=supports.get(n),
            held=n == held,
        )
        for n in [f"{c} block" for c in block_colours] + bowls
    ]


def sample_scene(rng: np.random.Generator, task_fraction: float = 0.5) -> list[ObjectSpec]:
    """A packaged task's scene (with probability `task_fraction`) or random clutter."""
    if rng.random() < task_fraction:
        names = available_tasks()
        return list(Task(names[int(rng.integers(len(names)))]).sample(rng).objects)
    return random_clutter(rng)


def add_distractors(
    env: TabletopEnv,
    rng: np.random.Generator,
    ids: Sequence[int],
    n: int,
    objects: Sequence[ObjectSpec],
) -> list[int]:
    """Drop `n` random_urdfs models (drawn from `ids`) on free table spots; their body ids."""
    taken = [
        (env.client.getBasePositionAndOrientation(env.bodies[o.name])[0][:2], o.category)
        for o in objects
    ]
    (x0, x1), (y0, y1) = CLUTTER_WORKSPACE
    root = Path(pybullet_data.getDataPath()) / "random_urdfs"
    placed: list[tuple[float, float]] = []
    bodies: list[int] = []
    for _ in range(n):
        for _try in range(50):
            p = (x0 + rng.random() * (x1 - x0), y0 + rng.random() * (y1 - y0))
            if all(math.dist(p, q) > DISTRACTOR_CLEARANCE[c] for q, c in taken) and all(
                math.dist(p, q) > 0.07 for q in placed
            ):
                break
        else:
            continue
        idx = int(ids[int(rng.integers(len(ids)))])
        yaw = float(rng.random() * 2 * math.pi)
        body = env.client.loadURDF(
            str(root / f"{idx:03d}" / f"{idx:03d}.urdf"),
            basePosition=[p[0], p[1], 0.04],
            baseOrientation=env.client.getQuaternionFromEuler([0.0, 0.0, yaw]),
        )
        placed.append(p)
        bodies.append(int(body))
    if placed:
        env.motion.step(120)  # let them fall and settle
    return bodies


def render_scene(
    env: TabletopEnv,
    seed: int,
    *,
    distractor_prob: float = 0.0,
    distractor_ids: Sequence[int] = (),
    task_fraction: float = 0.5,
) -> RenderedScene:
    """Build the seed's scene in `env`, render it and label every pixel."""
    rng = np.random.default_rng(seed)
    for _attempt in range(20):
        try:
            specs = sample_scene(rng, task_fraction)
            env.reset(seed=seed, options={"objects": specs, "record_video": False})
            break
        except (RuntimeError, ValueError):  # a grasp at reset failed or the layout is unbuildable
            continue
    else:  # pragma: no cover - 20 unbuildable scenes in a row
        raise RuntimeError(f"seed {seed}: no buildable scene")
    distractors: list[int] = []
    if distractor_ids and rng.random() < distractor_prob:
        distractors = add_distractors(env, rng, distractor_ids, int(rng.integers(1, 4)), specs)
    obs = env.observation()
    seg = env.camera.segmentation(env.client)
    category = np.zeros(seg.shape, dtype=np.int64)
    colour = np.full(seg.shape, -1, dtype=np.int64)
    category[np.isin(seg, distractors)] = OTHER
    visible: dict[str, int] = {}
    for name, body in env.bodies.items():
        spec = env.specs[name]
        m = seg == body
        category[m] = 1 + CATEGORIES.index(spec.category)
        colour[m] = COLOUR_NAMES.index(spec.colour)
        visible[name] = int(m.sum())
    return RenderedScene(
        seed=seed,
        rgb=obs.rgb,
        depth=obs.depth,
        camera=obs.camera,
        category=category,
        colour=colour,
        visible_pixels=visible,
        ground_truth=obs.ground_truth,
        ee_position=obs.ee_position,
        gripper_holding=obs.gripper_holding,
        distractors=len(distractors),
        specs=tuple(specs),
    )


def hides_blocks(specs: Sequence[ObjectSpec]) -> bool:
    """Does the scene put a block where a top-down camera cannot see it (under a block, in hand)?"""
    blocks = {s.name for s in specs if s.category == "block"}
    return any(s.held or (s.on in blocks) for s in specs)


def build_up(
    specs: Sequence[ObjectSpec], rng: np.random.Generator
) -> list[list[ObjectSpec]] | None:
    """Earlier states of a scene that hides blocks, as a robot would have made it: first every
    block on the table (stacks taken apart onto free spots, the held block where it was
    grasped), then each tower one level higher, until the scene itself follows. None when no
    free spot is found. Lets a benchmark credit what a camera saw before a block was covered."""
    by_name = {s.name: s for s in specs}

    def level(s: ObjectSpec) -> int:
        support = by_name.get(s.on) if s.on else None
        return 0 if support is None or support.category != "block" else 1 + level(support)

    levels = {s.name: level(s) for s in specs}
    top = max(levels.values(), default=0)

    def xy_of(s: ObjectSpec) -> tuple[float, float]:
        return s.xy if s.on is None else xy_of(by_name[s.on])

    taken = [(xy_of(s), s.category) for s in specs]
    spots: dict[str, tuple[float, float]] = {}
    (x0, x1), (y0, y1) = CLUTTER_WORKSPACE
    for s in specs:
        if levels[s.name] == 0:
            continue
        for _try in range(200):
            p = (
                x0 + 0.03 + rng.random() * (x1 - x0 - 0.06),
                y0 + 0.03 + rng.random() * (y1 - y0 - 0.06),
            )
            if all(math.dist(p, q) > (0.08 if c == "block" else 0.11) for q, c in taken):
                break
        else:
            return None
        spots[s.name] = p
        taken.append((p, "block"))
    frames = []
    for lv in range(top + (1 if any(s.held for s in specs) else 0)):  # the last: the scene itself
        frames.append(
            [
                ObjectSpec(s.name, s.category, s.colour, spots[s.name], None, False)
                if levels[s.name] > lv
                else ObjectSpec(s.name, s.category, s.colour, s.xy, s.on, False)
                for s in specs
            ]
        )
    return frames


def seed_range(start: int, count: int) -> range:
    return range(int(start), int(start) + int(count))


def check_disjoint(**ranges: range) -> None:
    """Raise ValueError if any two named seed ranges overlap (train vs held-out scenes)."""
    items = list(ranges.items())
    for i, (a, ra) in enumerate(items):
        for b, rb in items[i + 1 :]:
            if len(ra) and len(rb) and ra.start < rb.stop and rb.start < ra.stop:
                raise ValueError(f"seed ranges {a} {ra} and {b} {rb} overlap")


def make_env(width: int = 320, height: int = 240) -> TabletopEnv:
    return TabletopEnv(camera_width=width, camera_height=height)

"""Perception from simulator ground truth, with optional noise for robustness studies."""

from __future__ import annotations

import numpy as np

from saycan.drivers.types import Observation
from saycan.errors import SayCanError
from saycan.perception.relations import describe_scene
from saycan.perception.scene import SceneDescription, SceneObject
from saycan.world import OFF_TABLE_Z


class OraclePerception:
    """Reads `Observation.ground_truth` (simulators only).

    `position_noise_m` adds Gaussian jitter; `miss_rate` drops detections. Noise comes from the
    generator passed to `reset`, so a seeded episode stays reproducible.
    """

    name = "oracle"
    needs_images = (
        False  # a simulator may skip rendering the camera (runtime/episode.py begin_episode)
    )

    def __init__(self, position_noise_m: float = 0.0, miss_rate: float = 0.0):
        self.position_noise_m = float(position_noise_m)
        self.miss_rate = float(miss_rate)
        self._rng = np.random.default_rng(0)

    def reset(self, rng: np.random.Generator | None = None) -> None:
        self._rng = rng if rng is not None else np.random.default_rng(0)

    def perceive(self, obs: Observation) -> SceneDescription:
        if obs.ground_truth is None:
            raise SayCanError(
                "perception=oracle needs simulator ground truth; this driver provides none "
                "(use a camera-based perception backend with a real robot)"
            )
        objects = []
        for s in obs.ground_truth:
            if s.position[2] < OFF_TABLE_Z:
                continue
            if self.miss_rate and self._rng.random() < self.miss_rate:
                continue
            pos = np.asarray(s.position, dtype=float)
            if self.position_noise_m:
                pos = pos + self._rng.normal(0.0, self.position_noise_m, size=3)
            objects.append(
                SceneObject(
                    name=s.name,
                    category=s.category,
                    colour=s.colour,
                    position=tuple(float(v) for v in pos),
                    size=tuple(float(v) for v in s.size),
                )
            )
        return describe_scene(objects, obs)

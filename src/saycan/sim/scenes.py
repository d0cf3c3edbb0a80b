"""Scenes without a task: objects to place for an episode that has an instruction but no goal
(`saycan run instruction="..." scene=random seed=3`). The `scene` config group builds one;
its counts and palette read like a task's `scene:` block (`saycan.sim.tasks.spec.SceneSpec`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from saycan.errors import ConfigError
from saycan.sim.layout import sample_placements
from saycan.sim.scene_spec import ObjectSpec
from saycan.sim.tasks.instance import PLACEMENT_RADIUS
from saycan.sim.tasks.spec import SceneSpec


class RandomScene:
    """Blocks and bowls of distinct colours from a palette, at non-overlapping spots.

    `matched_pairs` blocks get a bowl of their own colour (so "put the red block in the red
    bowl" can be asked). All randomness comes from the generator `sample` is given.
    """

    name = "random"

    def __init__(
        self,
        blocks: Any = 3,
        bowls: Any = 2,
        matched_pairs: int = 0,
        colours: Sequence[str] | str | None = None,
    ) -> None:
        data: dict[str, Any] = {"blocks": _plain(blocks), "bowls": _plain(bowls)}
        data["matched_pairs"] = int(matched_pairs)
        if colours is not None:
            data["colours"] = (colours,) if isinstance(colours, str) else tuple(colours)
        try:
            self.spec = SceneSpec(**data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"scene: {where}: {first['msg']}") from None
        s = self.spec
        if s.matched_pairs > min(s.blocks.min, s.bowls.min):
            raise ConfigError(
                f"scene: {s.matched_pairs} matched pairs need that many blocks and bowls"
            )
        if s.blocks.max + s.bowls.max - s.matched_pairs > len(s.colours):
            raise ConfigError(
                f"scene: {s.blocks.max} blocks and {s.bowls.max} bowls need more distinct colours "
                f"than the {len(s.colours)} in the palette"
            )

    def sample(self, rng: np.random.Generator) -> list[ObjectSpec]:
        s = self.spec
        n_blocks = int(rng.integers(s.blocks.min, s.blocks.max + 1))
        n_bowls = int(rng.integers(s.bowls.min, s.bowls.max + 1))
        order = [s.colours[i] for i in rng.permutation(len(s.colours))]
        pairs, rest = order[: s.matched_pairs], order[s.matched_pairs :]
        blocks = pairs + rest[: n_blocks - len(pairs)]
        rest = rest[n_blocks - len(pairs) :]
        bowls = pairs + rest[: n_bowls - len(pairs)]
        names = [f"{c} block" for c in blocks] + [f"{c} bowl" for c in bowls]
        radii = [PLACEMENT_RADIUS[n.split()[-1]] for n in names]
        xy = sample_placements(rng, len(names), min_dist=0.10, radii=radii)
        return [
            ObjectSpec(name=n, category=n.split()[-1], colour=n.split()[0], xy=p)
            for n, p in zip(names, xy)
        ]


def _plain(value: Any) -> Any:
    """An OmegaConf node or a plain value as plain Python (for pydantic)."""
    from omegaconf import DictConfig, OmegaConf

    return OmegaConf.to_container(value) if isinstance(value, DictConfig) else value

"""The `scene` group (episodes without a task): seeded samples, its counts and palette kept,
and bad settings as one-line config errors."""

from __future__ import annotations

import numpy as np
import pytest

from saycan.errors import ConfigError
from saycan.sim.scenes import RandomScene


def test_samples_are_seeded_and_keep_counts_palette_and_pairs():
    scene = RandomScene(
        blocks={"min": 2, "max": 3},
        bowls={"min": 1, "max": 2},
        matched_pairs=1,
        colours=["red", "green", "blue", "yellow", "pink"],
    )
    for seed in range(20):
        a = scene.sample(np.random.default_rng(seed))
        assert a == scene.sample(np.random.default_rng(seed))
        blocks = {o.colour for o in a if o.category == "block"}
        bowls = {o.colour for o in a if o.category == "bowl"}
        assert 2 <= len(blocks) <= 3 and 1 <= len(bowls) <= 2
        assert blocks | bowls <= {"red", "green", "blue", "yellow", "pink"}
        assert len(blocks & bowls) == 1  # exactly the matched pair shares a colour
        xy = np.array([o.xy for o in a])
        gaps = np.linalg.norm(xy[:, None] - xy[None], axis=-1)[np.triu_indices(len(a), 1)]
        assert gaps.min() >= 0.10


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"blocks": 1, "bowls": 1, "matched_pairs": 2}, "matched pairs"),
        ({"blocks": 4, "bowls": 4, "colours": ["red", "blue"]}, "distinct colours"),
        ({"colours": ["red", "octarine"]}, "unknown colour(s) ['octarine']"),
        ({"blocks": {"min": 3, "max": 1}}, "scene: blocks: "),
    ],
)
def test_bad_settings_are_config_errors(kwargs, words):
    with pytest.raises(ConfigError) as err:
        RandomScene(**kwargs)
    assert words in str(err.value) and "\n" not in str(err.value)

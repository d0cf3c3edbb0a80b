"""Same config + seed => same scene, same plan, same scores, same final state (real packaged
LLM, physics executor, two episodes on one set of components)."""

from __future__ import annotations

import json
from pathlib import Path

from hydra import compose, initialize_config_module

from saycan.runtime.components import Components
from saycan.runtime.episode import run_episode


def _episode(components: Components, out: Path) -> tuple[dict, list[dict], tuple]:
    result = run_episode(components, "put_block_on_block", 7, out, video=False, frames=False)
    trace = [json.loads(line) for line in Path(result.trace).read_text().splitlines()]
    final = components.driver.get_observation().ground_truth
    return result.to_dict(), trace, final


def test_same_seed_same_plan_scores_and_outcome(tmp_path: Path):
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("config")
    components = Components(cfg)
    try:
        first = _episode(components, tmp_path / "a")
        second = _episode(components, tmp_path / "b")
    finally:
        components.close()
    (r1, t1, s1), (r2, t2, s2) = first, second
    for key in ("instruction", "plan", "success", "steps", "sim_steps"):
        assert r1[key] == r2[key], key
    assert [step["candidates"] for step in t1] == [step["candidates"] for step in t2]
    assert s1 == s2  # bit-identical object states

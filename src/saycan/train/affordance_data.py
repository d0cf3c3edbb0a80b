"""Skill attempts from randomised states under real PyBullet physics: the affordance data.

Each attempt (one seed) builds a random scene, perceives it with oracle perception (the
`SceneDescription` the planner would see), samples one skill call (mostly among the library's
candidates for that scene, a few malformed ones), runs the real skill through the safety gate
and judges the outcome by simulator ground truth. Randomised factors, drawn independently per
seed: clutter (2-6 blocks, 0-2 bowls, 4-12 cm apart), blocks stacked on blocks or sitting in
bowls, objects near or beyond the workspace edge and the arm's reach, a block already in the
gripper.

A record keeps the scene (as perceived) and the call, not features, so the feature layout can
change without regenerating. Labels: success = the skill reported success, the intended effect
holds in the simulator (each skill says what that means: `Trainable.attempt_outcome`), the
gripper is empty and no other object moved more than 1 cm.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from saycan.errors import ConfigError
from saycan.perception.oracle import OraclePerception
from saycan.perception.scene import Relation, SceneDescription, SceneObject
from saycan.sim.scene_spec import ObjectSpec
from saycan.skills.base import SkillLibrary, Trainable
from saycan.skills.types import SkillCall
from saycan.world import BOWL_OUTER_RADIUS, COLOUR_NAMES, LOCATIONS

#: Region objects are sampled in when a scene "spreads" beyond the workspace (metres).
WIDE_X = (0.22, 0.90)
WIDE_Y = (-0.42, 0.42)
NORMAL_X = (0.34, 0.66)
NORMAL_Y = (-0.19, 0.19)
#: A bystander that moved more than this (m) makes the attempt a failure.
MOVED = 0.01
#: Held-out seeds start here; training seeds must stay below it.
HELDOUT_SEED_START = 900_000


def sample_objects(rng: np.random.Generator) -> tuple[list[ObjectSpec], dict[str, Any]]:
    """A random scene (object specs) and the factors that produced it."""
    n_blocks = int(rng.integers(2, 7))
    n_bowls = int(rng.integers(0, 3))
    min_gap = float(rng.choice([0.045, 0.06, 0.08, 0.12]))  # centre distance for two blocks
    wide = float(rng.choice([0.0, 0.0, 0.3, 0.6]))  # chance an object lands in the wide region
    colours = [COLOUR_NAMES[i] for i in rng.permutation(len(COLOUR_NAMES))]
    kinds = ["block"] * n_blocks + ["bowl"] * n_bowls
    specs: list[ObjectSpec] = []
    placed: list[tuple[float, float, float]] = []  # x, y, radius of table-resting objects
    n_stacked = 0
    for i, kind in enumerate(kinds):
        name = f"{colours[i]} {kind}"
        bases = [
            s for s in specs if s.category == "block" and not any(t.on == s.name for t in specs)
        ]
        bowls = [
            s for s in specs if s.category == "bowl" and not any(t.on == s.name for t in specs)
        ]
        if kind == "block" and bases and rng.random() < 0.25:
            specs.append(
                ObjectSpec(name, kind, colours[i], on=bases[int(rng.integers(len(bases)))].name)
            )
            n_stacked += 1
            continue
        if kind == "block" and bowls and rng.random() < 0.2:
            specs.append(
                ObjectSpec(name, kind, colours[i], on=bowls[int(rng.integers(len(bowls)))].name)
            )
            continue
        radius = 0.022 if kind == "block" else BOWL_OUTER_RADIUS
        for _ in range(200):
            region = (WIDE_X, WIDE_Y) if rng.random() < wide else (NORMAL_X, NORMAL_Y)
            x = float(rng.uniform(*region[0]))
            y = float(rng.uniform(*region[1]))
            if all(
                math.hypot(x - px, y - py) >= max(min_gap, radius + pr + 0.005)
                for px, py, pr in placed
            ):
                break
        else:
            continue  # no room: a smaller scene
        placed.append((x, y, radius))
        specs.append(ObjectSpec(name, kind, colours[i], xy=(x, y)))
    free_blocks = [
        s
        for s in specs
        if s.category == "block" and s.on is None and not any(t.on == s.name for t in specs)
    ]
    held = None
    if free_blocks and rng.random() < 0.15:
        pick = free_blocks[int(rng.integers(len(free_blocks)))]
        specs = [
            ObjectSpec(s.name, s.category, s.colour, s.xy, s.on, held=s is pick) for s in specs
        ]
        held = pick.name
    factors = {
        "blocks": n_blocks,
        "bowls": n_bowls,
        "min_gap": min_gap,
        "wide": wide,
        "stacked": n_stacked,
        "held": held,
    }
    return specs, factors


def sample_call(
    rng: np.random.Generator,
    scene: SceneDescription,
    skills: SkillLibrary,
    shares: Mapping[str, float],
) -> SkillCall:
    """Mostly a candidate the planner would consider (uniform within a skill family); about
    one in twelve is malformed (same object and target, a missing name, a bowl as object).
    `shares`: the share of attempts per skill; the first learned skill without one gets the rest."""
    trainable = trainable_skills(skills)
    blocks = scene.names("block")
    if rng.random() < 1 / 12 or not blocks:
        odd = [call for skill in trainable for call in skill.malformed_calls(scene)]
        return odd[int(rng.integers(len(odd)))]
    obj = blocks[int(rng.integers(len(blocks)))]
    u, acc, chosen = rng.random(), 0.0, None
    for skill in trainable:
        if skill.name in shares:
            acc += float(shares[skill.name])
            if u < acc:
                chosen = skill
                break
    if chosen is None:
        chosen = next(s for s in trainable if s.name not in shares)
    return chosen.sample_call(rng, obj, scene)


def trainable_skills(skills: SkillLibrary) -> list[Trainable]:
    """The library's skills with a learned affordance, each able to say what to attempt."""
    out = []
    for skill in skills.learned().values():
        if not isinstance(skill, Trainable):
            raise ConfigError(
                f"skill {skill.name!r} has learned features but cannot be trained "
                "(saycan.skills.base.Trainable; docs/skills.md)"
            )
        out.append(skill)
    return out


def judge(
    call: SkillCall, before: dict, after: dict, skill_ok: bool, holding: bool, skills: SkillLibrary
) -> str | None:
    """None when the call did what it says, else why not (`goal_not_met`, `disturbed`, ...)."""
    obj = call.args[0]
    if obj not in after:
        return "goal_not_met"
    skill = skills.skill_of(call)
    if not isinstance(skill, Trainable):
        return "goal_not_met"
    holds, exempt = skill.attempt_outcome(call, before, after)
    if not holds:
        return "goal_not_met"
    if holding:
        return "still_holding"
    if any(
        np.linalg.norm(np.subtract(after[n].position, s.position)) > MOVED
        for n, s in before.items()
        if n not in exempt
    ):
        return "disturbed"
    return None if skill_ok else "skill_reported_failure"


def scene_to_json(scene: SceneDescription) -> dict[str, Any]:
    return {
        "objects": [
            [o.name, o.category, o.colour, [round(v, 5) for v in o.position], list(o.size)]
            for o in scene.objects
        ],
        "relations": [[r.subject, r.predicate, r.object] for r in scene.relations],
        "holding": scene.holding,
    }


def scene_from_json(d: dict[str, Any]) -> SceneDescription:
    objects = tuple(SceneObject(n, c, col, tuple(p), tuple(s)) for n, c, col, p, s in d["objects"])
    relations = tuple(Relation(*r) for r in d["relations"])
    return SceneDescription(objects, relations, d.get("holding"), locations=dict(LOCATIONS))


class AttemptRunner:
    """One simulator (behind the safety gate), reused for every attempt of a worker."""

    def __init__(self, cfg: DictConfig):
        robot = OmegaConf.to_container(cfg.robot, resolve=True)
        robot["camera_width"], robot["camera_height"] = (
            32,
            24,
        )  # ground truth only: no frames needed
        driver = instantiate(robot)
        # The simulator itself, for ground truth and letting the world settle (no arm motion);
        # skills command the arm only through the gated driver.
        self.sim = driver
        self.gate = instantiate(cfg.safety) if cfg.get("safety") is not None else None
        self.sim = driver  # the simulator itself (scene reset, physics), beside the gate
        self.driver = self.gate.wrap_driver(driver) if self.gate is not None else driver
        self.driver.connect()
        self.skills = instantiate(cfg.skills)
        shares = cfg.get("attempt_shares")
        self.shares = {str(k): float(v) for k, v in (shares or {}).items()}
        self.perception = OraclePerception()

    def close(self) -> None:
        self.driver.disconnect()

    def _states(self) -> dict:
        return {s.name: s for s in self.sim.env.observation(render=False).ground_truth}

    def attempt(self, seed: int) -> dict[str, Any]:
        """Run the attempt of `seed` (a scene that cannot be built is resampled from the seed)."""
        for retry in range(20):
            rng = np.random.default_rng([seed, retry])
            specs, factors = sample_objects(rng)
            try:
                self.sim.reset_scene(specs, seed=seed)
            except (RuntimeError, ValueError):  # e.g. the start-holding grasp failed
                continue
            break
        else:
            raise RuntimeError(f"seed {seed}: no buildable scene in 20 tries")
        if self.gate is not None:
            self.gate.reset()
        obs = self.sim.env.observation(render=False)
        scene = self.perception.perceive(obs)
        call = sample_call(rng, scene, self.skills, self.shares)
        before = {s.name: s for s in obs.ground_truth}
        t0 = time.perf_counter()
        res = self.skills.execute(call, self.driver.motion, scene)
        wall = time.perf_counter() - t0
        env = self.sim.env
        if res.steps:
            env.motion.step(120)  # let the world come to rest before judging
        end = env.observation(render=False)
        after = {s.name: s for s in end.ground_truth}
        if res.success:
            why = judge(call, before, after, True, end.gripper_holding, self.skills)
        elif call.args and call.args[0] in before and res.reason is not None:
            why = res.reason.value
        else:
            why = res.reason.value if res.reason else "skill_reported_failure"
        return {
            "seed": seed,
            "factors": factors,
            "scene": scene_to_json(scene),
            "call": [call.skill, *call.args],
            "success": why is None,
            "reason": why,
            "skill_reason": res.reason.value if res.reason else None,
            "sim_steps": int(res.steps),
            "wall_s": round(wall, 3),
        }


_RUNNER: AttemptRunner | None = None


def _init_worker(cfg_yaml: str) -> None:
    global _RUNNER
    _RUNNER = AttemptRunner(OmegaConf.create(cfg_yaml))


def _attempt(seed: int) -> dict[str, Any]:
    assert _RUNNER is not None
    try:
        return _RUNNER.attempt(seed)
    except Exception as exc:  # noqa: BLE001 - one broken attempt must not lose the others
        return {"seed": seed, "error": f"{type(exc).__name__}: {exc}"}


def generate_iter(
    cfg: DictConfig, seeds: Sequence[int], workers: int = 1
) -> Iterator[dict[str, Any]]:
    """Attempts for `seeds`, yielded in seed order as they finish; each worker process owns one
    simulator for all its attempts."""
    cfg_yaml = OmegaConf.to_yaml(cfg, resolve=True)
    seeds = [int(s) for s in seeds]
    if workers <= 1 or len(seeds) < 2:
        global _RUNNER
        _init_worker(cfg_yaml)
        try:
            for s in seeds:
                yield _attempt(s)
        finally:
            if _RUNNER is not None:
                _RUNNER.close()
            _RUNNER = None
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(cfg_yaml,)) as pool:
        yield from pool.map(_attempt, seeds, chunksize=4)


def generate(cfg: DictConfig, seeds: Sequence[int], workers: int = 1) -> list[dict[str, Any]]:
    """Attempts for `seeds`, in seed order."""
    return list(generate_iter(cfg, seeds, workers))


def load_or_generate(
    path: Path, cfg: DictConfig, seeds: Sequence[int], workers: int = 1
) -> list[dict[str, Any]]:
    """The attempts of `seeds`, read from the JSONL cache at `path` where present; missing seeds
    are generated and appended one by one (so an interrupted run resumes where it stopped)."""
    path = Path(path)
    have: dict[int, dict[str, Any]] = {}
    if path.exists():
        have = {r["seed"]: r for r in read_jsonl(path)}
    missing = [s for s in seeds if s not in have]
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            for r in generate_iter(cfg, missing, workers):
                fh.write(json.dumps(r) + "\n")
                fh.flush()
                have[r["seed"]] = r
    return [have[s] for s in seeds]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    import gzip

    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    import gzip

    text = "".join(json.dumps(r) + "\n" for r in rows).encode()
    path = Path(path)
    if path.suffix == ".gz":  # mtime 0: the same rows give the same bytes
        with gzip.GzipFile(path, "wb", mtime=0) as fh:
            fh.write(text)
    else:
        path.write_bytes(text)

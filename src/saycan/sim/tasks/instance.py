"""Sampling a concrete task instance from a `TaskSpec`, judging success, and the expert plan."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from saycan.drivers.types import ObjectState
from saycan.sim import geometry
from saycan.sim.layout import sample_placements
from saycan.sim.scene_spec import LOCATIONS, ObjectSpec
from saycan.sim.tasks.spec import PredicateSpec, TaskSpec, load_task
from saycan.skills.types import DONE, SkillCall

#: Footprint radius used to keep sampled objects apart (a bowl is ~0.146 m across).
PLACEMENT_RADIUS = {"block": 0.03, "bowl": 0.075}

#: How far (metres) an object may drift and still count as "not moved".
MOVED_TOLERANCE = 0.02


@dataclass(frozen=True)
class TaskInstance:
    """One sampled episode of a task: the objects to build, the instruction and the goal."""

    spec: TaskSpec
    instruction: str
    template: str
    split: str
    objects: tuple[ObjectSpec, ...]
    bindings: dict[str, str] = field(hash=False)  # role -> object name ("A" -> "red block")

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def max_steps(self) -> int:
        return self.spec.max_steps

    # -- judging -------------------------------------------------------------------------------
    def success(
        self, initial: Sequence[ObjectState], final: Sequence[ObjectState]
    ) -> tuple[bool, list[str]]:
        """Whether every goal predicate holds on the final state; returns the unmet ones too."""
        unmet = [
            _describe(p) for p in self.spec.goal if not self._holds(p, initial, final)
        ]
        return not unmet, unmet

    def _holds(
        self, p: PredicateSpec, initial: Sequence[ObjectState], final: Sequence[ObjectState]
    ) -> bool:
        states = {s.name: s for s in final}
        args = [self.bindings.get(a, a) for a in p.args]
        if any(a not in states and a not in LOCATIONS for a in args):
            return False  # a named object is absent or fell off the table
        if p.pred == "in":
            return geometry.is_in_bowl(states[args[0]].position, states[args[1]].position)
        if p.pred == "on":
            a, b = states[args[0]], states[args[1]]
            return geometry.is_on(a.position, a.size, b.position, b.size)
        if p.pred == "at":
            return geometry.is_at(states[args[0]].position, LOCATIONS[args[1]])
        if p.pred == "tower":
            return _is_single_tower([s for s in final if s.category == "block"])
        if p.pred == "all_in_matching_bowl":
            bowls = {s.colour: s for s in final if s.category == "bowl"}
            return all(
                geometry.is_in_bowl(s.position, bowls[s.colour].position)
                for s in final
                if s.category == "block" and s.colour in bowls
            )
        if p.pred == "nothing_moved":
            before = {s.name: np.asarray(s.position) for s in initial}
            return all(
                s.name in before
                and float(np.linalg.norm(np.asarray(s.position) - before[s.name])) < MOVED_TOLERANCE
                for s in final
            ) and len(final) == len(initial)
        raise ValueError(f"unknown predicate {p.pred}")  # the schema prevents this

    # -- expert --------------------------------------------------------------------------------
    def expert_plan(self) -> list[SkillCall]:
        """A correct plan from the initial state, derived from the goal predicates."""
        plan: list[SkillCall] = []
        for p in self.spec.goal:
            args = [self.bindings.get(a, a) for a in p.args]
            if p.pred in ("in", "on", "at"):
                plan.append(SkillCall("pick_and_place", (args[0], args[1])))
            elif p.pred == "tower":
                blocks = [o.name for o in self.objects if o.category == "block"]
                plan += [SkillCall("pick_and_place", (b, a)) for a, b in zip(blocks, blocks[1:])]
            elif p.pred == "all_in_matching_bowl":
                bowls = {o.colour: o.name for o in self.objects if o.category == "bowl"}
                plan += [
                    SkillCall("pick_and_place", (o.name, bowls[o.colour]))
                    for o in self.objects
                    if o.category == "block" and o.colour in bowls
                ]
        return plan + [DONE]

    def to_dict(self) -> dict:
        return {
            "task": self.name,
            "family": self.family,
            "split": self.split,
            "instruction": self.instruction,
            "bindings": dict(self.bindings),
            "objects": [o.__dict__ for o in self.objects],
        }


def _describe(p: PredicateSpec) -> str:
    return f"{p.pred}({', '.join(p.args)})"


def _is_single_tower(blocks: Sequence[ObjectState]) -> bool:
    if len(blocks) < 2:
        return True
    ordered = sorted(blocks, key=lambda s: s.position[2])
    return all(
        geometry.is_on(top.position, top.size, bottom.position, bottom.size)
        for bottom, top in zip(ordered, ordered[1:])
    )


class Task:
    """A task spec bound to a split; `sample(rng)` gives a `TaskInstance` (the env calls it with
    its own `np_random`, so the seed fixes the scene, the instruction and the roles)."""

    def __init__(self, spec: TaskSpec | str, split: str = "seen", instruction: str | None = None):
        self.spec = load_task(spec) if isinstance(spec, str) else spec
        if split not in ("seen", "unseen"):
            raise ValueError(f"split must be 'seen' or 'unseen', got {split!r}")
        templates = getattr(self.spec.instructions, split)
        if not templates:
            raise ValueError(f"task {self.spec.name!r} has no {split!r} instructions")
        self.split = split
        self.instruction_override = instruction

    @property
    def name(self) -> str:
        return self.spec.name

    def sample(self, rng: np.random.Generator) -> TaskInstance:
        scene = self.spec.scene
        n_blocks = int(rng.integers(scene.blocks.min, scene.blocks.max + 1))
        n_bowls = int(rng.integers(scene.bowls.min, scene.bowls.max + 1))
        palette = list(scene.colours)
        # Matched pairs share a colour; every other block and bowl gets a distinct colour.
        order = [palette[i] for i in rng.permutation(len(palette))]
        pairs, rest = order[: scene.matched_pairs], order[scene.matched_pairs :]
        block_colours = pairs + rest[: n_blocks - len(pairs)]
        rest = rest[n_blocks - len(pairs) :]
        bowl_colours = pairs + rest[: n_bowls - len(pairs)]
        rest = rest[n_bowls - len(pairs) :]

        bindings: dict[str, str] = {}
        free = {"block": list(block_colours), "bowl": list(bowl_colours)}
        for role, rs in self.spec.roles.items():
            if rs.absent:
                colour = rest.pop(0)  # a colour that is nowhere in the scene
            else:
                colour = free[rs.category].pop(int(rng.integers(len(free[rs.category]))))
            bindings[role] = f"{colour} {rs.category}"

        stacked = {
            bindings[r]: bindings[rs.on] for r, rs in self.spec.roles.items() if rs.on is not None
        }
        names = [f"{c} block" for c in block_colours] + [f"{c} bowl" for c in bowl_colours]
        on_table = [n for n in names if n not in stacked]
        radii = [PLACEMENT_RADIUS[n.split()[-1]] for n in on_table]
        xy = sample_placements(rng, len(on_table), min_dist=0.10, radii=radii)
        position = dict(zip(on_table, (tuple(map(float, p)) for p in xy)))
        objects = tuple(
            ObjectSpec(
                name=n,
                category=n.split()[-1],
                colour=n.split()[0],
                xy=position.get(n, (0.5, 0.0)),
                on=stacked.get(n),
            )
            for n in names
        )
        templates = getattr(self.spec.instructions, self.split)
        template = templates[int(rng.integers(len(templates)))]
        instruction = self.instruction_override or template.format(**bindings)
        return TaskInstance(
            spec=self.spec,
            instruction=instruction,
            template=template,
            split=self.split,
            objects=objects,
            bindings=bindings,
        )

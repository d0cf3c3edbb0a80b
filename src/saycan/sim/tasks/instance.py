"""Sampling a concrete task instance from a `TaskSpec`, judging success, and the expert plan."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from saycan.drivers.types import ObjectState
from saycan.errors import ConfigError
from saycan.sim import geometry
from saycan.sim.layout import DEFAULT_MARGIN, sample_placements
from saycan.sim.scene_spec import LOCATIONS, WORKSPACE_X, WORKSPACE_Y, ObjectSpec
from saycan.sim.tasks.colour_split import unseen_colours
from saycan.sim.tasks.independent_set import INDEPENDENT
from saycan.sim.tasks.spec import (
    ANY,
    EACH,
    PLACEHOLDER,
    PredicateSpec,
    Selector,
    TaskSpec,
    expand_colours,
    load_task,
)
from saycan.skills.done import DONE
from saycan.skills.pick_and_place import expert as place_expert
from saycan.skills.types import ExpertMove, SkillCall
from saycan.world import HAND_FOOTPRINT_RADIUS, object_size

#: Footprint radius used to keep sampled objects apart (a bowl is ~0.146 m across).
PLACEMENT_RADIUS = {"block": 0.03, "bowl": 0.075}

#: How far (metres) an object may drift and still count as "not moved".
MOVED_TOLERANCE = 0.02

#: Places the expert may move a block to, in order of preference, to uncover another one.
CORNERS = tuple(n for n in LOCATIONS if n.endswith("corner"))

#: Corner-to-corner lines through the middle, for blocks in a diagonal line.
DIAGONALS = (
    ("top left corner", "middle", "bottom right corner"),
    ("top right corner", "middle", "bottom left corner"),
)

#: Extra gap (m) kept between a sampled object and a place a block will be put at.
KEEP_CLEAR_GAP = 0.05


class Binding(str):
    """A role bound to an object name ("red block"); `{A.colour}` and `{A.category}` work in
    instruction templates."""

    colour: str
    category: str

    def __new__(cls, name: str, colour: str = "", category: str = "") -> Binding:
        obj = super().__new__(cls, name)
        obj.colour, obj.category = colour, category
        return obj


def render_template(template: str, bindings: Mapping[str, Binding]) -> str:
    """Fill a template's placeholders (`{R}`, `{R.colour}`, `{R.category}`; the schema has
    refused anything else) from the bindings. A plain substitution, not `str.format`: the
    template is data from a file and must not reach any attribute but these two."""

    def fill(m: re.Match[str]) -> str:
        binding = bindings[m.group(1)]
        if m.group(2) == "colour":
            return binding.colour
        if m.group(2) == "category":
            return binding.category
        return str(binding)

    return PLACEHOLDER.sub(fill, template)


@dataclass(frozen=True)
class TaskInstance:
    """One sampled episode of a task: the objects to build, the instruction and the goal."""

    spec: TaskSpec
    instruction: str
    template: str
    split: str
    objects: tuple[ObjectSpec, ...]
    bindings: dict[str, str] = field(hash=False)  # role -> object name ("A" -> "red block")
    unreachable: tuple[str, ...] = ()  # objects placed beyond the arm's reach
    held: str | None = None  # the block the gripper holds at the start

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def max_steps(self) -> int:
        return self.spec.max_steps

    # -- quantifiers ---------------------------------------------------------------------------
    def select(self, sel: Selector) -> list[str]:
        """Objects of the scene (as built) matching a selector, in build order; for a location
        selector, its places."""
        if sel.category == "location":
            return list(sel.choices or LOCATIONS)
        colours = expand_colours(sel.colour)
        excluded = {self.bindings.get(r, r) for r in sel.exclude}
        return [
            o.name
            for o in self.objects
            if o.category == sel.category
            and (colours is None or o.colour in colours)
            and (sel.reachable is None or (o.name not in self.unreachable) == sel.reachable)
            and o.name not in excluded
        ]

    def _groundings(self, p: PredicateSpec) -> tuple[list[list[str]], list[str] | None]:
        """Every `each` binding of the arguments (one list of args each), and the `any` options."""
        base = [str(self.bindings.get(a, a)) for a in p.args]
        rows = [base]
        if p.each is not None:
            rows = [[o if a == EACH else a for a in base] for o in self.select(p.each)]
        options = self.select(p.any) if p.any is not None else None
        return rows, options

    # -- judging -------------------------------------------------------------------------------
    def success(
        self,
        initial: Sequence[ObjectState],
        final: Sequence[ObjectState],
        progress: MilestoneTracker | None = None,
    ) -> tuple[bool, list[str]]:
        """Whether every goal predicate holds on the final state and every milestone was
        reached on the way (`progress`, tracked step by step); returns the unmet ones too."""
        unmet = [_describe(p) for p in self.spec.goal if not self._holds(p, initial, final)]
        if self.spec.milestones is not None:
            reached = progress.reached if progress is not None else set()
            unmet += [
                f"milestone {i}: {_describe(p)}"
                for i, p in enumerate(self.spec.milestones.states)
                if i not in reached
            ]
        return not unmet, unmet

    def holds(
        self, p: PredicateSpec, initial: Sequence[ObjectState], now: Sequence[ObjectState]
    ) -> bool:
        """Whether one predicate holds on the state `now` (with `initial` for nothing_moved and
        offset)."""
        return self._holds(p, initial, now)

    def _holds(
        self, p: PredicateSpec, initial: Sequence[ObjectState], final: Sequence[ObjectState]
    ) -> bool:
        states = {s.name: s for s in final}
        if p.pred == "nothing_moved":
            before = {s.name: np.asarray(s.position) for s in initial}
            if not p.args:
                names, complete = [s.name for s in initial], len(final) == len(initial)
            else:
                names, complete = [a for row in self._groundings(p)[0] for a in row], True
            return complete and all(
                n in states
                and n in before
                and float(np.linalg.norm(np.asarray(states[n].position) - before[n]))
                < MOVED_TOLERANCE
                for n in names
            )
        if p.pred == "tower":
            if not p.args:
                return _is_single_tower([s for s in final if s.category == "block"])
            names = [str(self.bindings[a]) for a in p.args]
            return all(n in states for n in names) and all(
                _on(states[top], states[bottom]) for bottom, top in zip(names, names[1:])
            )
        if p.pred == "line":
            names = (
                self.select(p.each)
                if p.each is not None
                else [str(self.bindings[a]) for a in p.args]
            )
            return all(n in states for n in names) and geometry.in_line(
                [states[n].position for n in names], p.axis, p.line_tolerance
            )
        if p.pred == "offset":
            before = {s.name: s for s in initial}
            return all(
                row[0] in states
                and row[0] in before
                and geometry.is_offset(states[row[0]].position, before[row[0]].position, p.side)
                for row in self._groundings(p)[0]
            )
        if p.pred == "all_in_matching_bowl":
            bowls = {s.colour: s for s in final if s.category == "bowl"}
            return all(
                _in_bowl(s, bowls[s.colour], states)
                for s in final
                if s.category == "block" and s.colour in bowls
            )
        rows, options = self._groundings(p)
        fits = [
            [
                o
                for o in (options if options is not None else [None])
                if self._relation(p, [o if a == ANY else a for a in row], states)
            ]
            for row in rows
        ]
        if p.distinct:
            return _distinct_assignment(fits) is not None
        return all(fits)

    @staticmethod
    def _relation(p: PredicateSpec, args: list[str], states: dict[str, ObjectState]) -> bool:
        pred = p.pred
        a = states.get(args[0])
        if a is None:
            return False  # absent or fell off the table
        if pred == "at":
            place = args[1]
            if place in LOCATIONS:
                return geometry.is_at(a.position, LOCATIONS[place])
            return geometry.in_zone(a.position, place)
        b = states.get(args[1])
        if b is None:
            return False
        if pred == "in":
            return b.category == "bowl" and _in_bowl(a, b, states)
        if pred == "on":
            return _on(a, b)
        if pred == "left_of":
            return geometry.is_left_of(a.position, b.position)
        if pred == "right_of":
            return geometry.is_right_of(a.position, b.position)
        if pred == "beside":
            return geometry.is_beside(a.position, _half(a), b.position, _half(b), p.side)
        raise ValueError(f"unknown predicate {pred}")  # the schema prevents this

    # -- expert --------------------------------------------------------------------------------
    def expert_plan(self, skills: ExpertSkills | None = None) -> list[SkillCall]:
        """A correct plan from the initial state, derived from the goal predicates: each goal in
        order, uncovering blocks first (a covered block cannot be picked) and leaving objects
        beyond the arm's reach alone. Each planned move becomes the call of the first skill in
        `skills` that can make it (`SkillLibrary.expert_call`); without a library,
        pick_and_place's."""
        world = _World(self)
        milestones = self.spec.milestones.states if self.spec.milestones is not None else ()
        for p in (*milestones, *self.spec.goal):
            world.achieve(p)
        return [_realise(step, skills) for step in world.plan] + [DONE]

    def to_dict(self) -> dict:
        return {
            "task": self.name,
            "family": self.family,
            "split": self.split,
            "instruction": self.instruction,
            "bindings": {k: str(v) for k, v in self.bindings.items()},
            "objects": [o.__dict__ for o in self.objects],
            "unreachable": list(self.unreachable),
        }


class ExpertSkills(Protocol):
    """What the expert needs of a skill library (`saycan.skills.base.SkillLibrary`)."""

    def expert_call(self, move: ExpertMove) -> SkillCall: ...


def _realise(step: ExpertMove | SkillCall, skills: ExpertSkills | None) -> SkillCall:
    if isinstance(step, SkillCall):
        return step
    if skills is None:
        return place_expert.move(step.obj, step.target)
    return skills.expert_call(step)


def _describe(p: PredicateSpec) -> str:
    extra = [f"{k}={v}" for k, v in (("side", p.side), ("axis", p.axis)) if v is not None]
    return f"{p.pred}({', '.join([*p.args, *extra])})" + (" distinct" if p.distinct else "")


def _half(s: ObjectState) -> float:
    return max(s.size[0], s.size[1]) / 2


def _distinct_assignment(fits: Sequence[Sequence[str]]) -> dict[int, str] | None:
    """Give each row one of its fitting options, no option twice (bipartite matching by
    augmenting paths); None if no such assignment exists."""
    owner: dict[str, int] = {}

    def claim(row: int, seen: set[str]) -> bool:
        for o in fits[row]:
            if o in seen:
                continue
            seen.add(o)
            if o not in owner or claim(owner[o], seen):
                owner[o] = row
                return True
        return False

    if not all(claim(row, set()) for row in range(len(fits))):
        return None
    return {row: o for o, row in owner.items()}


class MilestoneTracker:
    """Which of a task's milestones have been reached so far, checked on the world state after
    every step: in order (each only after the one before it) or in any order."""

    def __init__(self, instance: TaskInstance, initial: Sequence[ObjectState]):
        self.instance = instance
        self.initial = initial
        spec = instance.spec.milestones
        self.states = spec.states if spec is not None else ()
        self.ordered = spec is not None and spec.order == "ordered"
        self.reached: set[int] = set()
        self.update(initial)

    def update(self, now: Sequence[ObjectState]) -> list[int]:
        """Mark what holds in `now`; returns the milestones newly reached."""
        new: list[int] = []
        for i, p in enumerate(self.states):
            if i in self.reached:
                continue
            if self.ordered and i != len(self.reached):
                break
            if self.instance.holds(p, self.initial, now):
                self.reached.add(i)
                new.append(i)
        return new

    def to_dict(self) -> dict:
        return {"reached": sorted(self.reached), "total": len(self.states)}


def _on(a: ObjectState, b: ObjectState) -> bool:
    return geometry.is_on(a.position, a.size, b.position, b.size)


def _in_bowl(
    obj: ObjectState, bowl: ObjectState, states: dict[str, ObjectState], depth: int = 0
) -> bool:
    """In the bowl, or resting on a pile of blocks that is in it."""
    if geometry.is_in_bowl(obj.position, bowl.position):
        return True
    if depth > 6 or geometry.xy_distance(obj.position, bowl.position) >= geometry.BOWL_INNER_RADIUS:
        return False
    return any(
        s.category == "block"
        and s.name != obj.name
        and _on(obj, s)
        and _in_bowl(s, bowl, states, depth + 1)
        for s in states.values()
    )


def _is_single_tower(blocks: Sequence[ObjectState]) -> bool:
    if len(blocks) < 2:
        return True
    ordered = sorted(blocks, key=lambda s: s.position[2])
    return all(_on(top, bottom) for bottom, top in zip(ordered, ordered[1:]))


class _World:
    """A symbolic copy of the initial scene that the expert plans on: what rests on what, and
    where things stand on the table."""

    def __init__(self, inst: TaskInstance):
        self.inst = inst
        self.category = {o.name: o.category for o in inst.objects}
        self.support: dict[str, str | None] = {o.name: o.on for o in inst.objects}
        self.xy: dict[str, tuple[float, float]] = {}
        for o in inst.objects:
            root = o
            while root.on is not None:
                root = next(r for r in inst.objects if r.name == root.on)
            self.xy[o.name] = root.xy
        states = inst.spec.milestones.states if inst.spec.milestones is not None else ()
        goals = (*inst.spec.goal, *states)
        self.reserved = (
            {str(inst.bindings.get(a, a)) for p in goals for a in p.args}
            | {
                c
                for p in goals
                if p.any is not None and p.any.category == "location"
                for c in inst.select(p.any)
            }
        ) & set(LOCATIONS)
        self.held = inst.held  # in the gripper: occupies no place; put down before picking another
        self.start_xy = dict(self.xy)
        self.plan: list[ExpertMove | SkillCall] = []

    # -- queries --
    def above(self, x: str) -> list[str]:
        return [o for o, s in self.support.items() if s == x]

    def chain(self, x: str) -> list[str]:
        out, cur = [], self.support[x]
        while cur is not None:
            out.append(cur)
            cur = self.support.get(cur)
        return out

    def top_of(self, x: str) -> str:
        while self.above(x):
            x = self.above(x)[0]
        return x

    def free(self, place: str) -> bool:
        loc = LOCATIONS[place]
        return all(
            self.support[o] is not None
            or o == self.held
            or geometry.xy_distance(self.xy[o], loc) >= PLACEMENT_RADIUS[self.category[o]] + 0.04
            for o in self.support
        )

    def half(self, x: str) -> float:
        return object_size(self.category[x])[0] / 2

    def side_places(self) -> dict[str, tuple[float, float]]:
        """The free sides of objects as perception will name them (`geometry.side_places`)."""
        on_table = [o for o in self.support if o != self.held]
        footprint = [(o, self.xy[o], self.half(o)) for o in on_table]
        anchors = [
            f for f in footprint if self.support[f[0]] is None and f[0] not in self.inst.unreachable
        ]
        return geometry.side_places(anchors, footprint, (WORKSPACE_X, WORKSPACE_Y))

    def blockers(self, anchor: str, side: str) -> list[str]:
        """Blocks on the table in the way of a block put at that side of `anchor`."""
        p = geometry.side_point(self.xy[anchor], self.half(anchor), side)
        return [
            o
            for o in self.support
            if o not in (anchor, self.held)
            and geometry.xy_distance(p, self.xy[o])
            < geometry.BLOCK_SIZE / 2 + self.half(o) + geometry.SIDE_CLEARANCE
        ]

    def put_beside(self, x: str, anchor: str, side: str) -> bool:
        """Move `x` to that side of `anchor`, first parking blocks in the way; False when the
        side is off the workspace or a bowl is in the way."""
        for _ in range(len(self.support)):
            in_way = [o for o in self.blockers(anchor, side) if o != x and x not in self.chain(o)]
            if not in_way:
                break
            root = (self.chain(in_way[0]) or [in_way[0]])[-1]
            if self.category[root] != "block" or root in self.inst.unreachable:
                return False
            self.move(root, self.parking())
        name = geometry.side_place_name(side, anchor)
        if name not in self.side_places() and x != anchor and x in self.blockers(anchor, side):
            self.move(x, self.parking())  # it stands half on the place: no place is named there
        if name not in self.side_places():
            return False
        self.move(x, name)
        return True

    def in_bowl(self, x: str, bowl: str) -> bool:
        return bowl in self.chain(x)

    # -- actions --
    def move(self, x: str, target: str) -> None:
        if x in self.inst.unreachable or target in self.inst.unreachable:
            return  # the arm cannot act there; the goal is left unmet
        if self.held is not None and x != self.held:
            self.move(self.held, self.parking())  # the gripper must let go of it first
        self.clear(x)
        if target in self.category and self.category[target] == "block":
            self.clear(target)
        if x == self.held:
            self.held = None
        sides = self.side_places()  # before the move: where the place is when it is chosen
        target_category = (
            "location" if target in LOCATIONS or target in sides else self.category[target]
        )
        self.plan.append(ExpertMove(x, target, self.category[x], target_category))
        if target in LOCATIONS:
            self.support[x], self.xy[x] = None, LOCATIONS[target][:2]
        elif target in sides:
            self.support[x], self.xy[x] = None, sides[target]
        else:
            self.support[x] = self.top_of(target) if self.category[target] == "bowl" else target
            self.xy[x] = self.xy[target]

    def clear(self, x: str) -> None:
        """Move whatever rests on `x` out of the way (top first)."""
        for y in self.above(x):
            self.clear(y)
            self.move(y, self.parking())

    def parking(self) -> str:
        spots = [c for c in CORNERS if c not in self.reserved] + list(LOCATIONS)
        return next((c for c in spots if self.free(c)), spots[0])

    def place_in(self, zone: str) -> str:
        spots = [n for n, loc in LOCATIONS.items() if geometry.in_zone(loc, zone)]
        return next((c for c in spots if self.free(c)), spots[0])

    def achieve(self, p: PredicateSpec) -> None:
        inst = self.inst
        if p.pred == "nothing_moved":
            return
        if p.pred == "tower":
            names = (
                [str(inst.bindings[a]) for a in p.args]
                if p.args
                else [
                    o
                    for o, c in self.category.items()
                    if c == "block" and o not in inst.unreachable
                ]
            )
            if p.args and set(self.chain(names[0])) & set(names):
                self.move(names[0], self.parking())  # the bottom block sits on a later one
            for bottom, top in zip(names, names[1:]):
                if self.support[top] != bottom:
                    self.move(top, bottom)
            return
        if p.pred == "all_in_matching_bowl":
            bowls = {o.colour: o.name for o in inst.objects if o.category == "bowl"}
            for o in inst.objects:
                if (
                    o.category == "block"
                    and o.colour in bowls
                    and not self.in_bowl(o.name, bowls[o.colour])
                ):
                    self.move(o.name, bowls[o.colour])
            return
        rows, options = inst._groundings(p)
        if p.pred == "line":
            self.make_line(
                [r for row in rows for r in row] if p.each is None else [r[0] for r in rows], p
            )
            return
        used: set[str] = set()  # `any` members taken by earlier rows (distinct assignments)
        for row in rows:
            x = row[0]
            if x in inst.unreachable:
                continue
            if p.pred == "offset":
                if self.support[x] is not None or not geometry.is_offset(
                    self.xy[x], self.start_xy[x], p.side
                ):
                    self.put_beside(x, x, p.side)
                continue
            target = row[1]
            if target == ANY:
                candidates = [
                    b for b in options or [] if b not in inst.unreachable and b not in used
                ]
                met = [b for b in candidates if self.satisfied(p.pred, x, b)]
                if met or not candidates:
                    used.update(met[:1] if p.distinct else [])
                    continue
                if p.pred == "at":
                    target = next(
                        (c for c in candidates if c not in LOCATIONS or self.free(c)), candidates[0]
                    )
                else:
                    target = min(
                        candidates, key=lambda b: sum(self.in_bowl(o, b) for o in self.support)
                    )
                if p.distinct:
                    used.add(target)
            if p.pred == "in" and not self.in_bowl(x, target):
                self.move(x, target)
            elif p.pred == "on" and self.support[x] != target:
                self.move(x, target)
            elif p.pred == "at":
                if target in LOCATIONS:
                    if (
                        geometry.xy_distance(self.xy[x], LOCATIONS[target]) >= 0.01
                        or self.support[x] is not None
                    ):
                        self.move(x, target)
                elif self.support[x] is not None or not geometry.in_zone(self.xy[x], target):
                    self.move(x, self.place_in(target))
            elif p.pred in ("left_of", "right_of"):
                ref = self.xy[target]
                test = geometry.is_left_of if p.pred == "left_of" else geometry.is_right_of
                if self.support[x] is None and test(self.xy[x], ref):
                    continue
                spots = sorted(
                    (c for c in CORNERS if test(LOCATIONS[c], ref) and self.free(c)),
                    key=lambda c: abs(LOCATIONS[c][0] - ref[0]),
                )
                if spots:
                    self.move(x, spots[0])
            elif p.pred == "beside" and not self.satisfied(p.pred, x, target, p.side):
                self.put_beside(x, target, p.side)

    def satisfied(self, pred: str, x: str, target: str, side: str | None = None) -> bool:
        """Whether `pred(x, target)` holds in the symbolic world (in, at, beside)."""
        if pred == "in":
            return self.in_bowl(x, target)
        if pred == "on":
            return self.support[x] == target
        if self.support[x] is not None:
            return False
        if pred == "at":
            if target in LOCATIONS:
                return geometry.xy_distance(self.xy[x], LOCATIONS[target]) < 0.01
            return geometry.in_zone(self.xy[x], target)
        if pred == "beside":
            return geometry.is_beside(
                self.xy[x], self.half(x), self.xy[target], self.half(target), side
            )
        return False

    # -- lines --
    def make_line(self, names: list[str], p: PredicateSpec) -> None:
        """Put the blocks in a line: horizontal or vertical ones through the sides of one of
        them (tried as the anchor in turn, then from the middle of the table); diagonal ones
        from corner to corner through the middle."""
        names = [n for n in names if n not in self.inst.unreachable]
        if self.lined(names, p):
            return
        attempts = (
            [lambda a=a: self.line_from(a, names, p) for a in names]
            + [lambda: self.line_from(names[0], names, p, via_middle=True)]
            if p.axis != "diagonal"
            else [lambda c=c: self.line_through(c, names) for c in DIAGONALS]
        )
        for attempt in attempts:
            saved = self.snapshot()
            if attempt() and self.lined(names, p):
                return
            self.restore(saved)

    def lined(self, names: list[str], p: PredicateSpec) -> bool:
        return all(self.support[n] is None for n in names) and geometry.in_line(
            [self.xy[n] for n in names], p.axis, p.line_tolerance
        )

    def line_from(
        self, anchor: str, names: list[str], p: PredicateSpec, via_middle: bool = False
    ) -> bool:
        if via_middle:
            if not self.free("middle"):
                return False
            self.move(anchor, "middle")
        if self.support[anchor] is not None:
            return False
        sides = ("left", "right") if p.axis == "horizontal" else ("front", "behind")
        others = [n for n in names if n != anchor]
        # Both sides of the anchor in turn, else all on one side (an anchor near an edge).
        for pattern in (
            [i % 2 for i in range(len(others))],
            [(i + 1) % 2 for i in range(len(others))],
            [0] * len(others),
            [1] * len(others),
        ):
            saved = self.snapshot()
            ends = [anchor, anchor]  # the last block on each side
            for x, k in zip(others, pattern):
                if not self.put_beside(x, ends[k], sides[k]):
                    break
                ends[k] = x
            else:
                if self.lined(names, p):
                    return True
            self.restore(saved)
        return False

    def line_through(self, spots: tuple[str, ...], names: list[str]) -> bool:
        if len(names) > len(spots):
            return False
        for x, spot in zip(names, spots):
            if not self.satisfied("at", x, spot):
                if not self.free(spot):
                    return False
                self.move(x, spot)
        return True

    def snapshot(self) -> tuple:
        return dict(self.support), dict(self.xy), self.held, list(self.plan)

    def restore(self, saved: tuple) -> None:
        support, xy, held, plan = saved
        self.support, self.xy, self.held, self.plan = dict(support), dict(xy), held, list(plan)


def plan_for_goal(
    objects: Sequence[ObjectSpec], goal: Sequence[PredicateSpec], held: str | None = None
) -> list[SkillCall]:
    """The expert's plan for goal predicates over object *names* (no roles, no quantifiers),
    from objects described as the expert's own scene builder describes them: how a planner
    that wrote the goal itself (planner=goal_translate) reaches it over the scene it perceives.
    The spec is assembled without validation: it holds nothing but the goal, which the expert
    reads, and `PredicateSpec` has checked each predicate's arity."""
    spec = TaskSpec.model_construct(name="goal", family="none", goal=tuple(goal))
    instance = TaskInstance(spec, "", "", "seen", tuple(objects), {}, (), held)
    return instance.expert_plan()


#: Evaluation splits: instruction templates seen / unseen in training and example selection,
#: seen templates over objects in colours held out of training (`colour_split.HELD_OUT_COLOURS`),
#: and the independent set (`tasks/independent/`, written outside the project; its own task files).
SPLITS = ("seen", "unseen", "unseen_colours", INDEPENDENT)


def template_split(split: str) -> str:
    """The templates a split reads (`unseen_colours` reads the seen ones)."""
    return split if split in ("unseen", INDEPENDENT) else "seen"


class Task:
    """A task spec bound to a split; `sample(rng)` gives a `TaskInstance` (the env calls it with
    its own `np_random`, so the seed fixes the scene, the instruction and the roles)."""

    def __init__(self, spec: TaskSpec | str, split: str = "seen", instruction: str | None = None):
        self.spec = load_task(spec) if isinstance(spec, str) else spec
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {list(SPLITS)}, got {split!r}")
        if split == "unseen_colours":  # seen templates, the named objects in held-out colours
            self.spec = unseen_colours(self.spec)
        templates = getattr(self.spec.instructions, template_split(split))
        if not templates:
            hint = (
                f" (the {INDEPENDENT} split runs its own tasks: tasks={INDEPENDENT})"
                if split == INDEPENDENT
                else ""
            )
            raise ConfigError(f"task {self.spec.name!r} has no {split!r} instructions{hint}")
        self.split = split
        self.instruction_override = instruction

    @property
    def name(self) -> str:
        return self.spec.name

    def keep_clear(self) -> list[str]:
        """Places the expert may put a block at: sampled objects keep away from them."""
        spec, out = self.spec, []
        for role in spec.roles.values():
            if role.category == "location":
                for c in role.choices or tuple(LOCATIONS):
                    out += (
                        [c]
                        if c in LOCATIONS
                        else [n for n, loc in LOCATIONS.items() if geometry.in_zone(loc, c)]
                    )
            if role.on is not None and spec.roles[role.on].category == "block":
                out += list(CORNERS)  # may be parked to uncover its support
            if role.held:
                out += list(CORNERS)  # may be put down there to free the gripper
        states = spec.milestones.states if spec.milestones is not None else ()
        for p in (*spec.goal, *states):
            if p.pred == "at" and p.args[1] not in spec.roles and p.args[1] != ANY:
                place = p.args[1]
                out += (
                    [place]
                    if place in LOCATIONS
                    else [n for n, loc in LOCATIONS.items() if geometry.in_zone(loc, place)]
                )
            if p.pred in ("left_of", "right_of"):
                out += list(CORNERS)
            if (
                p.pred == "line"
            ):  # diagonals run through corners and the middle; others may start there
                out += [c for d in DIAGONALS for c in d] if p.axis == "diagonal" else ["middle"]
            if p.any is not None and p.any.category == "location":
                out += [c for c in p.any.choices or LOCATIONS if c in LOCATIONS]
        return list(dict.fromkeys(out))

    def sides_needed(self, bindings: Mapping[str, str]) -> list[tuple[str, str, str]]:
        """(anchor, side, mover) for each beside / offset goal: the side of `anchor` that
        `mover` is to be put at."""
        out = []
        for p in self.spec.goal:
            if p.pred == "beside":
                out.append((str(bindings[p.args[1]]), p.side, str(bindings[p.args[0]])))
            elif p.pred == "offset" and p.args[0] in bindings:
                out.append((str(bindings[p.args[0]]), p.side, str(bindings[p.args[0]])))
        return out

    def sample(self, rng: np.random.Generator) -> TaskInstance:
        spec, scene = self.spec, self.spec.scene
        n_blocks = int(rng.integers(scene.blocks.min, scene.blocks.max + 1))
        n_bowls = int(rng.integers(scene.bowls.min, scene.bowls.max + 1))
        palette = list(scene.colours)
        order = [palette[i] for i in rng.permutation(len(palette))]

        # Roles with a colour constraint take the first allowed colour of the random order;
        # absent ones keep theirs out of the scene altogether.
        fixed: dict[str, str] = {}
        used: set[str] = set()
        for absent_first in (True, False):
            for role, rs in spec.roles.items():
                if rs.colour is None or rs.absent != absent_first:
                    continue
                allowed = expand_colours(rs.colour) or ()
                pool = order if not rs.absent else order + list(allowed)
                colour = next((c for c in pool if c in allowed and c not in used), None)
                if colour is None:
                    raise ConfigError(f"task {spec.name}: no colour left for role {role}")
                fixed[role] = colour
                used.add(colour)
        remaining = [c for c in order if c not in used]
        pairs, rest = remaining[: scene.matched_pairs], remaining[scene.matched_pairs :]
        own = {
            cat: [
                fixed[r]
                for r, rs in spec.roles.items()
                if r in fixed and rs.category == cat and not rs.absent
            ]
            for cat in ("block", "bowl")
        }
        n_free_blocks = n_blocks - len(pairs) - len(own["block"])
        block_colours = pairs + own["block"] + rest[:n_free_blocks]
        rest = rest[n_free_blocks:]
        n_free_bowls = n_bowls - len(pairs) - len(own["bowl"])
        bowl_colours = pairs + own["bowl"] + rest[:n_free_bowls]
        rest = rest[n_free_bowls:]
        if (
            min(n_free_blocks, n_free_bowls) < 0
            or len(block_colours) != n_blocks
            or len(bowl_colours) != n_bowls
        ):
            raise ConfigError(
                f"task {spec.name}: not enough colours for {n_blocks} blocks and {n_bowls} bowls"
            )

        bindings: dict[str, Binding] = {}
        taken = set(fixed.values())
        free = {
            "block": [c for c in block_colours if c not in taken],
            "bowl": [c for c in bowl_colours if c not in taken],
        }
        for role, rs in spec.roles.items():
            if rs.category == "location":
                choices = rs.choices or tuple(LOCATIONS)
                bindings[role] = Binding(choices[int(rng.integers(len(choices)))], "", "location")
                continue
            if role in fixed:
                colour = fixed[role]
            elif rs.absent:
                colour = rest.pop(0)  # a colour that is nowhere in the scene
            else:
                colour = free[rs.category].pop(int(rng.integers(len(free[rs.category]))))
            bindings[role] = Binding(f"{colour} {rs.category}", colour, rs.category)

        stacked = {
            bindings[r]: bindings[rs.on] for r, rs in spec.roles.items() if rs.on is not None
        }
        names = [f"{c} block" for c in block_colours] + [f"{c} bowl" for c in bowl_colours]
        regions = {
            str(bindings[r]): rs.region if rs.reachable else "out of reach"
            for r, rs in spec.roles.items()
            if rs.category != "location" and not rs.absent and (rs.region or not rs.reachable)
        }
        unreachable = tuple(
            str(bindings[r])
            for r, rs in spec.roles.items()
            if rs.category != "location" and not rs.reachable
        )
        held = next((str(bindings[r]) for r, rs in spec.roles.items() if rs.held), None)
        on_table = [n for n in names if n not in stacked]
        radii = [
            HAND_FOOTPRINT_RADIUS if n == held else PLACEMENT_RADIUS[n.split()[-1]]
            for n in on_table
        ]
        keep_clear = self.keep_clear()
        if not regions and not keep_clear:
            xy = sample_placements(rng, len(on_table), min_dist=0.10, radii=radii)
            position = dict(zip(on_table, (tuple(map(float, p)) for p in xy)))
        else:
            position = _place(rng, on_table, radii, regions, [LOCATIONS[k][:2] for k in keep_clear])
        # A goal that puts a block at a side of an object needs that side free: draw again
        # (from the same generator) until it is, rather than hand the expert a blocked place.
        # Roles chosen by where they stand ("the block closest to the bowl") are bound now, to
        # a clear winner only.
        for _ in range(SIDE_ATTEMPTS):
            rebound = _bind_by_nearness(spec, bindings, position, held)
            if rebound is not None and _sides_clear(self.sides_needed(rebound), position, stacked):
                bindings = rebound
                break
            position = _place(rng, on_table, radii, regions, [LOCATIONS[k][:2] for k in keep_clear])
        else:
            raise ConfigError(
                f"task {spec.name}: no layout leaves the goal's sides of objects free and "
                "the closest / farthest block clear"
            )
        objects = tuple(
            ObjectSpec(
                name=n,
                category=n.split()[-1],
                colour=n.split()[0],
                xy=position.get(n, (0.5, 0.0)),
                on=stacked.get(n),
                held=n == held,
            )
            for n in names
        )
        templates = getattr(spec.instructions, template_split(self.split))
        template = templates[int(rng.integers(len(templates)))]
        instruction = self.instruction_override or render_template(template, bindings)
        return TaskInstance(
            spec=spec,
            instruction=instruction,
            template=template,
            split=self.split,
            objects=objects,
            bindings=bindings,
            unreachable=unreachable,
            held=held,
        )


#: Layouts drawn at most to find one with the goal's sides of objects free.
SIDE_ATTEMPTS = 50
#: "The block closest to the bowl" must be closer than any other block by this much (m), so
#: that a person looking at the table would agree which one it is.
NEARNESS_MARGIN = 0.05


def _bind_by_nearness(
    spec: TaskSpec,
    bindings: dict[str, Binding],
    position: Mapping[str, tuple[float, float]],
    held: str | None,
) -> dict[str, Binding] | None:
    """Bind each `closest_to` / `farthest_from` role to the block on the table nearest to (or
    furthest from) its reference; None when the winner is not clear by `NEARNESS_MARGIN`."""
    out = dict(bindings)
    for role, rs in spec.roles.items():
        if rs.nearness is None:
            continue
        kind, ref = rs.nearness
        ref_name = str(out[ref])
        taken = {
            str(out[r]) for r, other in spec.roles.items() if r != role and other.nearness is None
        }
        ranked = sorted(
            (geometry.xy_distance(position[n], position[ref_name]), n)
            for n in position
            if n.endswith(" block") and n not in taken and n not in (ref_name, held)
        )
        if kind == "farthest":
            ranked.reverse()
        if not ranked or (len(ranked) > 1 and abs(ranked[0][0] - ranked[1][0]) < NEARNESS_MARGIN):
            return None
        name = ranked[0][1]
        out[role] = Binding(name, name.split()[0], "block")
    return out


def _sides_clear(
    sides: Sequence[tuple[str, str, str]],
    position: Mapping[str, tuple[float, float]],
    stacked: Mapping,
) -> bool:
    """Each (anchor, side, mover): the side lies in the workspace and no object but the
    anchor and the mover is in the way of a block put there."""
    half = {n: object_size(n.split()[-1])[0] / 2 for n in position}
    for anchor, side, mover in sides:
        if anchor in stacked or anchor not in position:
            continue
        p = geometry.side_point(position[anchor], half[anchor], side)
        if not (
            WORKSPACE_X[0] <= p[0] <= WORKSPACE_X[1] and WORKSPACE_Y[0] <= p[1] <= WORKSPACE_Y[1]
        ):
            return False
        if any(
            n not in (anchor, mover)
            and geometry.xy_distance(p, xy)
            < geometry.BLOCK_SIZE / 2 + half[n] + geometry.SIDE_CLEARANCE + 0.02
            for n, xy in position.items()
        ):
            return False
    return True


def _place(
    rng: np.random.Generator,
    names: Sequence[str],
    radii: Sequence[float],
    regions: dict[str, str],
    keep_clear: Sequence[tuple[float, float]],
    min_dist: float = 0.10,
    clearance: float = 0.02,
    attempts: int = 200,
) -> dict[str, tuple[float, float]]:
    """Like `layout.sample_placements`, with per-object regions (zones, or beyond reach) and
    places to keep clear. Objects with a region are placed first."""
    ws_lo = np.array([WORKSPACE_X[0] + DEFAULT_MARGIN, WORKSPACE_Y[0] + DEFAULT_MARGIN])
    ws_hi = np.array([WORKSPACE_X[1] - DEFAULT_MARGIN, WORKSPACE_Y[1] - DEFAULT_MARGIN])
    order = sorted(range(len(names)), key=lambda i: names[i] not in regions)
    boxes = []
    for i in order:
        lo, hi = ws_lo, ws_hi
        zone = regions.get(names[i])
        if zone is not None:
            (x0, x1), (y0, y1) = geometry.ZONES[zone]
            lo, hi = np.array([x0, y0]), np.array([x1, y1])
            if zone != "out of reach":
                lo, hi = np.maximum(lo, ws_lo), np.minimum(hi, ws_hi)
        boxes.append((lo, hi))
    clear = [np.asarray(k, float) for k in keep_clear]
    for _ in range(attempts):
        placed: dict[int, np.ndarray] = {}
        for i, (lo, hi) in zip(order, boxes):
            for _try in range(100):
                p = lo + rng.random(2) * (hi - lo)
                if all(
                    np.linalg.norm(p - q) >= max(min_dist, radii[i] + radii[j] + clearance)
                    for j, q in placed.items()
                ) and all(
                    np.linalg.norm(p - k) >= radii[i] + PLACEMENT_RADIUS["block"] + KEEP_CLEAR_GAP
                    for k in clear
                ):
                    placed[i] = p
                    break
            else:
                break
        if len(placed) == len(names):
            return {names[i]: (float(p[0]), float(p[1])) for i, p in placed.items()}
    # the task file asks for a scene that does not fit: bad input (one line, exit 2), not a
    # crash reported as a failed episode
    raise ConfigError(
        f"cannot place {list(names)} apart, in their regions and clear of {len(clear)} places: "
        "the task's scene does not fit (fewer objects or wider regions)"
    )

"""Disturbances for evaluating closed-loop planning: the simulator perturbs the world mid-episode.

`knock_placed`: after a successful place, the placed block is knocked to a random free spot.
`drop_grasp`: the grasp opens mid-transport. Which object a skill carried is the skill's to
say (`Skill.carried`); the runner passes the name here, so nothing in the simulator knows
skills. Under the physics executor the fingers really open once the held block has travelled
`drop_after` metres (the skill then fails as it would on a real arm); under a direct-effect
executor (`executor=teleport`, no transport happens) the block is put where it would have
fallen, part-way along its path. Every random draw comes from the env's `np_random`, so the
same seed and the same decisions give the same disturbances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from saycan.errors import ConfigError
from saycan.sim.layout import DEFAULT_MARGIN
from saycan.world import BLOCK_SIZE, WORKSPACE_X, WORKSPACE_Y, xy_distance

if TYPE_CHECKING:  # pragma: no cover
    from saycan.sim.env import TabletopEnv

#: Clearance (m, centre to centre) a knocked or dropped block keeps from every other object.
FREE_SPOT_CLEARANCE = 0.10


@dataclass(frozen=True)
class DisturbanceEvent:
    """One perturbation, as the trace records it."""

    kind: str
    object: str
    position: tuple[float, float, float]  # where the object ended up
    sim_step: int
    message: str

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "object": self.object,
            "position": [round(v, 4) for v in self.position],
            "sim_step": self.sim_step,
            "message": self.message,
        }


class Disturbance(Protocol):
    name: str

    def reset(self, env: TabletopEnv) -> None: ...

    def on_step(self, env: TabletopEnv, step: int) -> None: ...

    def after_skill(self, env: TabletopEnv, carried: str | None) -> list[DisturbanceEvent]:
        """After a skill; `carried`: the object a successful skill lifted and carried, if any."""
        ...


class _Base:
    """Probability, a per-episode cap, and the episode's events."""

    name = "base"

    def __init__(self, probability: float = 0.3, max_per_episode: int | None = None):
        if not 0.0 <= float(probability) <= 1.0:
            raise ConfigError(f"disturbance.probability must be in [0, 1], got {probability!r}")
        if max_per_episode is not None and int(max_per_episode) < 0:
            raise ConfigError(f"disturbance.max_per_episode must be >= 0, got {max_per_episode!r}")
        self.probability = float(probability)
        self.max_per_episode = None if max_per_episode is None else int(max_per_episode)
        self.count = 0
        self.pending: list[DisturbanceEvent] = []

    def reset(self, env: TabletopEnv) -> None:
        self.count = 0
        self.pending = []

    def on_step(self, env: TabletopEnv, step: int) -> None:
        pass

    def _fires(self, env: TabletopEnv) -> bool:
        """One draw per opportunity (always drawn, so the stream does not depend on the cap)."""
        hit = bool(env.np_random.random() < self.probability)
        if self.max_per_episode is not None and self.count >= self.max_per_episode:
            return False
        self.count += hit
        return hit

    def after_skill(self, env, carried) -> list[DisturbanceEvent]:
        events, self.pending = self.pending, []
        return events


class NoDisturbance(_Base):
    name = "none"

    def __init__(self) -> None:
        super().__init__(0.0)


class KnockPlaced(_Base):
    """After a skill carried X to its place (`pick_and_place(X, Y)`), X is knocked to a random
    free spot."""

    name = "knock_placed"

    def after_skill(self, env, carried) -> list[DisturbanceEvent]:
        events = super().after_skill(env, carried)
        if carried is None or carried not in env.bodies:
            return events
        if not self._fires(env):
            return events
        obj = carried
        xy = free_spot(env, exclude=(obj,))
        pos = (xy[0], xy[1], BLOCK_SIZE / 2 + 0.002)
        env.teleport_object(obj, pos)
        end = _position(env, obj)
        events.append(
            DisturbanceEvent(
                "knock_placed", obj, end, env.sim_step, f"{obj} was knocked off its place"
            )
        )
        return events


class DropGrasp(_Base):
    """The grasp opens mid-transport (one draw per grasp)."""

    name = "drop_grasp"

    def __init__(
        self, probability: float = 0.3, max_per_episode: int | None = None, drop_after: float = 0.01
    ):
        super().__init__(probability, max_per_episode)
        self.drop_after = float(drop_after)
        self._armed: tuple[int, np.ndarray] | None = None  # (held body, grasp xy)
        self._seen_held: int | None = None
        self._grasped = False

    def reset(self, env: TabletopEnv) -> None:
        super().reset(env)
        self._armed, self._seen_held, self._grasped = None, env.motion.held, False
        self._before = {s.name: s.position for s in env.object_states()}

    def on_step(self, env: TabletopEnv, step: int) -> None:
        held = env.motion.held if env.motion.gripper_closed else None
        if held is not None and held != self._seen_held:  # a new grasp: draw once
            self._grasped = True
            if self._fires(env):
                self._armed = (held, np.asarray(env.motion.ee_position()[:2], float))
        self._seen_held = held
        if self._armed is not None and held == self._armed[0]:
            ee = np.asarray(env.motion.ee_position()[:2], float)
            if float(np.linalg.norm(ee - self._armed[1])) >= self.drop_after:
                env.robot.command_gripper(False)  # the fingers open; the skill's checks see it
                env.motion.gripper_closed = False  # (motions re-send the gripper command)
                name = next(n for n, b in env.bodies.items() if b == held)
                self.pending.append(
                    DisturbanceEvent(
                        "drop_grasp",
                        name,
                        tuple(float(v) for v in ee) + (0.0,),
                        step,
                        f"the grasp on {name} opened mid-transport",
                    )
                )
                self._armed = None
        elif self._armed is not None and held is None:
            self._armed = None

    def after_skill(self, env, carried) -> list[DisturbanceEvent]:
        events = super().after_skill(env, carried)
        grasped, self._grasped = self._grasped, False
        if events:  # the physical drop happened: record where the block came to rest
            events = [
                DisturbanceEvent(e.kind, e.object, _position(env, e.object), e.sim_step, e.message)
                for e in events
            ]
        elif (
            not grasped and carried is not None and carried in env.bodies and self._fires(env)
        ):  # no physical transport ran (teleport executor): put it where it would have fallen
            obj = carried
            start = np.asarray(self._before.get(obj, _position(env, obj))[:2], float)
            end = np.asarray(_position(env, obj)[:2], float)
            frac = float(env.np_random.uniform(0.3, 0.7))
            xy = free_spot(env, exclude=(obj,), near=start + frac * (end - start))
            env.teleport_object(obj, (xy[0], xy[1], BLOCK_SIZE / 2 + 0.002))
            events = [
                DisturbanceEvent(
                    "drop_grasp",
                    obj,
                    _position(env, obj),
                    env.sim_step,
                    f"the grasp on {obj} opened mid-transport",
                )
            ]
        self._before = {s.name: s.position for s in env.object_states()}
        return events


def _position(env: TabletopEnv, name: str) -> tuple[float, float, float]:
    pos = env.client.getBasePositionAndOrientation(env.bodies[name])[0]
    return tuple(float(v) for v in pos)


def free_spot(
    env: TabletopEnv, exclude: Sequence[str] = (), near: np.ndarray | None = None, tries: int = 200
) -> tuple[float, float]:
    """A table spot inside the workspace clear of every other object, drawn from the env's rng
    (the nearest clear draw to `near` if given)."""
    lo = np.array([WORKSPACE_X[0] + DEFAULT_MARGIN, WORKSPACE_Y[0] + DEFAULT_MARGIN])
    hi = np.array([WORKSPACE_X[1] - DEFAULT_MARGIN, WORKSPACE_Y[1] - DEFAULT_MARGIN])
    others = [s.position for s in env.object_states() if s.name not in exclude]
    draws = lo + env.np_random.random((tries, 2)) * (hi - lo)
    clear = [p for p in draws if all(xy_distance(p, o) >= FREE_SPOT_CLEARANCE for o in others)]
    pool = clear or list(draws)
    if near is not None:
        return tuple(float(v) for v in min(pool, key=lambda p: float(np.linalg.norm(p - near))))
    return tuple(float(v) for v in pool[0])

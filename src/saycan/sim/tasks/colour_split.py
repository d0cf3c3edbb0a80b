"""The colour generalisation split: colours held out of everything a planner is trained on.

`seen_colours(spec)` is the spec with the held-out colours removed from its palette (training
data, few-shot example pools); `unseen_colours(spec)` forces the instruction's roles onto the
held-out colours, so the objects the instruction names have colours no training prompt showed.
Both are spec transforms: the sampler and the expert are unchanged. Brown and gray are held out
because no colour group (warm, cool) uses them, so no task's meaning depends on them.
"""

from __future__ import annotations

from pydantic import ValidationError

from saycan.errors import ConfigError
from saycan.sim.tasks.spec import TaskSpec, expand_colours

HELD_OUT_COLOURS: tuple[str, ...] = ("brown", "gray")


def _rebuild(spec: TaskSpec, update: dict) -> TaskSpec:
    """Re-validate after the change, so an impossible scene is an error, not a bad sample."""
    data = spec.model_dump(mode="python")
    data.update(update)
    try:
        return TaskSpec.model_validate(data)
    except ValueError as exc:  # pydantic's ValidationError: its first error, on one line
        first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        reason = " ".join(str(first).removeprefix("Value error, ").split())
        raise ConfigError(f"task {spec.name!r}: no colour split possible ({reason})") from None


def seen_colours(spec: TaskSpec) -> TaskSpec:
    """The spec without the held-out colours anywhere (palette and role constraints)."""
    palette = [c for c in spec.scene.colours if c not in HELD_OUT_COLOURS]
    roles = {}
    for name, role in spec.roles.items():
        role_data = role.model_dump(mode="python")
        allowed = expand_colours(role.colour)
        if allowed is not None:
            kept = tuple(c for c in allowed if c not in HELD_OUT_COLOURS)
            if not kept:
                raise ConfigError(f"task {spec.name!r}: role {name} only takes held-out colours")
            role_data["colour"] = kept
        roles[name] = role_data
    return _rebuild(
        spec,
        {
            "scene": {**spec.scene.model_dump(mode="python"), "colours": tuple(palette)},
            "roles": roles,
        },
    )


def colour_free_roles(spec: TaskSpec) -> list[str]:
    """Block/bowl roles whose colour the task leaves open (they can take a held-out colour);
    not a role chosen by where it stands ("the block closest to the bowl"), which has none."""
    return [
        n
        for n, r in spec.roles.items()
        if r.category != "location" and r.colour is None and r.nearness is None
    ]


def supports_unseen_colours(spec: TaskSpec) -> bool:
    palette = set(spec.scene.colours)
    return bool(colour_free_roles(spec)) and all(c in palette for c in HELD_OUT_COLOURS)


def unseen_colours(spec: TaskSpec) -> TaskSpec:
    """The spec with its first colour-free roles (as many as there are held-out colours) drawn
    from the held-out colours. Tasks whose roles all have fixed colours (warm/cool groups) or
    that have no roles (`stack all the blocks`) have no such variant: ConfigError."""
    if not supports_unseen_colours(spec):
        raise ConfigError(
            f"task {spec.name!r} has no unseen-colours variant: no role with a free colour "
            f"(or its palette lacks {list(HELD_OUT_COLOURS)})"
        )
    chosen = colour_free_roles(spec)[: len(HELD_OUT_COLOURS)]
    roles = {
        n: {**r.model_dump(mode="python"), **({"colour": HELD_OUT_COLOURS} if n in chosen else {})}
        for n, r in spec.roles.items()
    }
    return _rebuild(spec, {"roles": roles})

"""The robot API a policy program (planner=code_policy) may call: queries over the perceived
scene and one function per skill of the library.

Every value handed to a program is a plain `str`, `float`, `bool`, `tuple` or `list` of them:
nothing with methods worth reaching, and the sandbox refuses attribute access anyway. Queries
read the scene the planner set last (`RobotAPI.scene`), so a program that checks
`is_in(...)` after a skill call sees the world as perceived after it. Skills are not called
here: the interpreter turns a skill call into a `SkillCall` for the planner to vet and hand to
the robot.
"""

from __future__ import annotations

from collections.abc import Callable

from saycan.perception.scene import SceneDescription
from saycan.planner.sandbox import BUILTINS, ProgramRefused
from saycan.sim import geometry

#: What the prompt tells the model about the API (kept next to the functions it describes).
QUERY_DOCS = {
    "objects": "objects() -> names of every object on the table",
    "blocks": "blocks() -> names of the blocks",
    "bowls": "bowls() -> names of the bowls",
    "locations": "locations() -> names of the table places (corners, middle)",
    "colour": "colour(name) -> its colour",
    "position": "position(name) -> (x, y, z) in metres; +y is the robot's left",
    "is_in": "is_in(a, b) -> a rests in bowl b",
    "is_on": "is_on(a, b) -> a rests on b",
    "left_of": "left_of(a, b) -> a lies left of b",
    "right_of": "right_of(a, b) -> a lies right of b",
    "holding": "holding() -> the name of the block in the gripper, or None",
}


class RobotAPI:
    """The query functions over the current scene, by name, plus the allowed builtins."""

    def __init__(self, scene: SceneDescription):
        self.scene = scene

    def functions(self) -> dict[str, Callable]:
        queries: dict[str, Callable] = {
            "objects": lambda: self.scene.names(),
            "blocks": lambda: self.scene.names("block"),
            "bowls": lambda: self.scene.names("bowl"),
            "locations": lambda: list(self.scene.locations),
            "colour": lambda name: self._object(name).colour,
            "position": lambda name: tuple(round(float(v), 3) for v in self._position(name)),
            "is_in": lambda a, b: self._related(a, "in", b),
            "is_on": lambda a, b: self._related(a, "on", b),
            "left_of": lambda a, b: geometry.is_left_of(self._position(a), self._position(b)),
            "right_of": lambda a, b: geometry.is_right_of(self._position(a), self._position(b)),
            "holding": lambda: self.scene.holding,
        }
        builtins: dict[str, Callable] = {
            "len": len,
            "min": min,
            "max": max,
            "abs": abs,
            "sorted": sorted,
            "range": range,
        }
        return {**queries, **{name: builtins[name] for name in BUILTINS}}

    def _object(self, name: object):
        obj = self.scene.get(name) if isinstance(name, str) else None
        if obj is None:
            what = repr(name[:40]) if isinstance(name, str) else f"a {type(name).__name__}"
            raise ProgramRefused(f"there is no object named {what} in the scene")
        return obj

    def _position(self, name: object):
        if isinstance(name, str) and name in self.scene.locations:
            return self.scene.locations[name]
        return self._object(name).position

    def _related(self, a: object, predicate: str, b: object) -> bool:
        self._position(a)  # both must exist: a misspelt name is an error, not False
        self._position(b)
        return any(
            r.subject == a and r.predicate == predicate and r.object == b
            for r in self.scene.relations
        )


def api_doc(skill_signatures: dict[str, str]) -> str:
    """The prompt header: the API in comment lines (queries, then the skills the library has)."""
    lines = ["# Python robot API. Only these functions; no imports, no attributes."]
    lines += [f"# {doc}" for doc in QUERY_DOCS.values()]
    lines += [f"# {sig}" for sig in skill_signatures.values()]
    return "\n".join(lines)

"""The goal language planner=goal_translate writes: ground atoms of the task language's
predicates (docs/tasks.md) over the objects and places of the perceived scene.

A goal is written one atom per line, `goal.in(red block, blue bowl)`, and closed by
`goal.end()`. The grammar is built from the scene (`scene_atoms`), so the decoder can only
choose lines that parse; `parse_goal` reads a goal text back against a scene (for users who
write one and for the tests that check the decoder never writes anything else).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from saycan.errors import SayCanError
from saycan.perception.scene import SceneDescription

#: The line that closes a goal.
END = "goal.end()"

#: Predicates an atom may use, with the categories of their arguments (first: a block).
PREDICATES: dict[str, tuple[str, str]] = {
    "in": ("block", "bowl"),
    "on": ("block", "block"),
    "at": ("block", "place"),
    "left_of": ("block", "object"),
    "right_of": ("block", "object"),
}

#: Where a block goes: a goal names at most one of these per block.
PLACEMENT = ("in", "on", "at")


class GoalParseError(SayCanError):
    """A goal text that is not in the scene's goal language (one line, naming the line)."""


@dataclass(frozen=True)
class Atom:
    pred: str
    args: tuple[str, str]

    def to_text(self) -> str:
        return f"goal.{self.pred}({', '.join(self.args)})"


def scene_atoms(scene: SceneDescription, zones: Sequence[str] = ()) -> list[Atom]:
    """Every atom the scene allows, in a fixed order (predicate, then scene order)."""
    blocks, bowls = scene.names("block"), scene.names("bowl")
    places = [*scene.locations, *zones]
    targets = {"block": blocks, "bowl": bowls, "place": places, "object": blocks + bowls}
    return [
        Atom(pred, (b, t))
        for pred, (_, target) in PREDICATES.items()
        for b in blocks
        for t in targets[target]
        if t != b
    ]


def allowed_next(atoms: Sequence[Atom], chosen: Sequence[Atom]) -> list[Atom]:
    """The atoms that may follow `chosen`: no repeat, one placement per block, and nothing
    that makes the goal so far unreachable (a goal the expert could never reach is not in the
    grammar): a cycle of `on` of any length (a on b on c on a), a block left or right of
    something in its own stack or bowl, or a cycle of sides (a left of b, b left of a)."""
    placed = {a.args[0] for a in chosen if a.pred in PLACEMENT}
    taken = set(chosen)
    return [
        a
        for a in atoms
        if a not in taken
        and not (a.pred in PLACEMENT and a.args[0] in placed)
        and _reachable([*chosen, a])
    ]


def _reachable(goal: Sequence[Atom]) -> bool:
    """No stacking cycle, and the side relations order distinct stacks without a cycle."""
    below = {a.args[0]: a.args[1] for a in goal if a.pred in ("on", "in")}
    base: dict[str, str | None] = {}
    for name in {n for a in goal for n in a.args}:  # the bottom of each object's stack
        seen, cur = {name}, name
        while cur in below:
            cur = below[cur]
            if cur in seen:
                return False  # a on b on ... on a
            seen.add(cur)
        base[name] = cur
    after: dict[str, set[str]] = {}  # stack -> the stacks to its right
    for a in goal:
        if a.pred in ("left_of", "right_of"):
            left, right = a.args if a.pred == "left_of" else a.args[::-1]
            if base[left] == base[right]:
                return False  # one stack is not beside itself
            after.setdefault(base[left], set()).add(base[right])
    return not _has_cycle(after)


def _has_cycle(edges: dict[str, set[str]]) -> bool:
    done: set[str] = set()

    def visit(node: str, path: set[str]) -> bool:
        if node in path:
            return True
        if node in done:
            return False
        path.add(node)
        found = any(visit(n, path) for n in edges.get(node, ()))
        path.discard(node)
        done.add(node)
        return found

    return any(visit(n, set()) for n in list(edges))


def render_goal(atoms: Iterable[Atom]) -> str:
    return "\n".join([*(a.to_text() for a in atoms), END])


def parse_goal(text: str, scene: SceneDescription, zones: Sequence[str] = ()) -> tuple[Atom, ...]:
    """Read a goal text back; raises `GoalParseError` unless every line is an atom the scene's
    grammar allows (in an allowed order) and the last line is `goal.end()`.

    Each line is matched against the *text* of the atoms allowed next, not split at commas and
    brackets: object names are the scene's own and may hold `,`, `)` or even a line break, and
    a goal the decoder wrote over them must still read back."""
    grammar = scene_atoms(scene, zones)
    atoms: list[Atom] = []
    rest = str(text)
    for number in itertools.count(1):
        rest = rest.lstrip()
        if _starts_line(rest, END):
            if rest[len(END) :].strip():
                raise GoalParseError(f"goal line {number}: nothing may follow {END}")
            return tuple(atoms)
        matches = [a for a in allowed_next(grammar, atoms) if _starts_line(rest, a.to_text())]
        if not matches:
            if not rest:
                raise GoalParseError(f"a goal ends with the line {END}")
            line = rest.split("\n", 1)[0]
            raise GoalParseError(
                f"goal line {number}: {line[:80]!r} is not an atom this scene allows here"
            )
        atom = max(matches, key=lambda a: len(a.to_text()))  # the whole name, not a prefix
        atoms.append(atom)
        rest = rest[len(atom.to_text()) :]
    raise AssertionError("unreachable")  # itertools.count never ends


def _starts_line(rest: str, line: str) -> bool:
    """`rest` begins with `line`, followed by nothing but spaces up to the line's end."""
    return rest.startswith(line) and not rest[len(line) :].split("\n", 1)[0].strip()

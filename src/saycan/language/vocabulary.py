"""The tabletop vocabulary (training grammar and canonical rewrite), read from its data file and
checked once at load.

A bad file (a missing section, a list that is empty or not of strings, an unknown colour or
place) is a one-line `ConfigError` naming the file and the key, never a sample that fails in
the middle of a data run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from saycan.errors import ConfigError
from saycan.world import COLOUR_GROUPS, COLOUR_NAMES, LOCATIONS, ZONES, place_seen_from_robot

VOCABULARY_FILE = Path(__file__).parent / "vocabulary.yaml"

#: Goal kinds the grammar's code renders; the file must phrase each (`goals.<kind>.action`).
GOAL_KINDS: tuple[str, ...] = (
    "in", "on", "at", "left_of", "right_of",
    *(f"beside_{s}" for s in ("left", "right", "front", "behind")),
    *(f"offset_{s}" for s in ("left", "right", "front", "behind")),
    "all_in", "leave_rest", "each_own_bowl", "all_in_bowls", "each_own_corner", "matching",
    "stack_all", "tower_up", "tower_down",
    *(f"line_{a}" for a in ("horizontal", "vertical", "diagonal")),
    "visit_all",
)  # fmt: skip
#: Goal kinds that also say where a subject should end up (the `state` frames use them).
STATE_KINDS: tuple[str, ...] = ("in", "on", "at", "left_of", "right_of", "all_in") + tuple(
    f"beside_{s}" for s in ("left", "right", "front", "behind")
)
PLACES: tuple[str, ...] = (*LOCATIONS, *(z for z in ZONES if z.endswith(" side")))
FRAMES: tuple[str, ...] = ("imperative", "question", "wish", "state")


@dataclass(frozen=True)
class Vocabulary:
    """The file's sections, checked: every value a non-empty list of phrases."""

    path: Path
    words: dict[str, tuple[str, ...]]
    nouns: dict[str, dict[str, tuple[str, ...]]]
    colours: dict[str, dict[str, tuple[str, ...]]]
    groups: dict[str, dict[str, tuple[str, ...]]]
    places: dict[str, tuple[str, ...]]
    from_robot: dict[str, tuple[str, ...]]
    near_far: dict[str, tuple[str, ...]]
    roles: dict[str, tuple[str, ...]]
    frames: dict[str, tuple[str, ...]]
    ends: dict[str, tuple[str, ...]]
    goals: dict[str, dict[str, tuple[str, ...]]]
    sequence: dict[str, tuple[str, ...]]

    def from_robot_forms(self, place: str) -> tuple[str, ...]:
        """The phrases that say `place` from the robot's point of view, with `{near_far}` and
        `{your_side}` to fill (none for the middle): the grammar writes one, the canonical
        rewrite reads them all back."""
        if place.endswith("corner"):
            return self.from_robot["corner"]
        if place.endswith("side"):
            lateral = place_seen_from_robot(place)[1]
            return self.from_robot["side_lateral" if lateral else "side_depth"]
        return ()


def _phrases(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: expected a non-empty list of phrases")
    for i, v in enumerate(value):
        if not isinstance(v, str) or not " ".join(v.split()) or v.count("{") != v.count("}"):
            raise ValueError(f"{where}.{i}: expected a phrase (text, balanced braces)")
    return tuple(value)


def _table(data: dict, key: str, required: tuple[str, ...] | None) -> dict[str, tuple[str, ...]]:
    section = data.get(key)
    if not isinstance(section, dict):
        raise ValueError(f"{key}: missing, or not a mapping")
    missing = [k for k in required or () if k not in section]
    if missing:
        raise ValueError(f"{key}.{missing[0]}: missing")
    return {str(k): _phrases(v, f"{key}.{k}") for k, v in section.items()}


def _nested(
    data: dict, key: str, required: tuple[str, ...], fields: tuple[str, ...], optional=()
) -> dict[str, dict[str, tuple[str, ...]]]:
    section = data.get(key)
    if not isinstance(section, dict):
        raise ValueError(f"{key}: missing, or not a mapping")
    missing = [k for k in required if k not in section]
    if missing:
        raise ValueError(f"{key}.{missing[0]}: missing")
    out = {}
    for name, entry in section.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{key}.{name}: expected a mapping of {', '.join(fields)}")
        unknown = [f for f in entry if f not in (*fields, *optional)]
        if unknown:
            raise ValueError(f"{key}.{name}.{unknown[0]}: unknown field")
        out[str(name)] = {
            f: _phrases(entry.get(f), f"{key}.{name}.{f}")
            for f in (*fields, *(o for o in optional if o in entry))
        }
    return out


def _check(data: dict, path: Path) -> Vocabulary:
    unknown = [c for c in data.get("colours") or {} if c not in COLOUR_NAMES]
    if unknown:
        raise ValueError(f"colours.{unknown[0]}: not a colour of the world {list(COLOUR_NAMES)}")
    unknown = [p for p in data.get("places") or {} if p not in PLACES]
    if unknown:
        raise ValueError(f"places.{unknown[0]}: not a named place {list(PLACES)}")
    return Vocabulary(
        path=path,
        words=_table(data, "words", None),
        nouns=_nested(data, "nouns", ("block", "bowl"), ("one", "many")),
        colours=_nested(data, "colours", COLOUR_NAMES, ("words", "like")),
        groups=_nested(data, "groups", tuple(COLOUR_GROUPS), ("words", "after")),
        places=_table(data, "places", PLACES),
        from_robot=_table(data, "from_robot", ("corner", "side_lateral", "side_depth")),
        near_far=_table(data, "near_far", ("near", "far")),
        roles=_table(data, "roles", ("held", "only", "under", "in_bowl", "closest", "farthest")),
        frames=_table(data, "frames", FRAMES),
        ends=_table(data, "ends", ("one", "many")),
        goals=_nested(data, "goals", GOAL_KINDS, ("action",), optional=("where", "fronted")),
        sequence=_table(data, "sequence", ("two", "more", "last", "reversed", "before")),
    )


def load_vocabulary(path: Path | str = VOCABULARY_FILE) -> Vocabulary:
    """Read and check a vocabulary file; `ConfigError` (one line: file and key) if it is bad."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.__class__.__name__
        raise ConfigError(f"{path}: cannot read the grammar vocabulary ({reason})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the grammar vocabulary must be a YAML mapping")
    try:
        vocab = _check(data, path)
    except ValueError as exc:
        raise ConfigError(f"{path}: key {' '.join(str(exc).split())}") from None
    for kind in STATE_KINDS:
        if "where" not in vocab.goals[kind]:
            raise ConfigError(f"{path}: key goals.{kind}.where: missing (a state frame needs it)")
    return vocab

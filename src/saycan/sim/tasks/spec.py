"""Task specifications as YAML data, validated by a schema.

A task says how to build the scene (which objects, colours, stacks), which roles the
instruction's slots refer to, instruction paraphrases split into `seen` and `unseen`, a goal
made of predicates over the final world state, and a step budget. The expert plan is derived
from the goal, so adding a task needs no code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from saycan.errors import ConfigError, UnknownTaskError
from saycan.sim.geometry import ZONES
from saycan.sim.objects_catalog import COLOUR_NAMES
from saycan.sim.scene_spec import LOCATIONS
from saycan.world import COLOUR_GROUPS

SPEC_DIR = Path(__file__).parent / "specs"
# The repository's examples/ (present in a source checkout): relative task file paths that are
# not under the working directory are looked up here too, so documented commands work anywhere.
EXAMPLES_DIR = Path(__file__).resolve().parents[4] / "examples"

#: A task file is a page of YAML; a larger one (a link to a disk image, a log) is refused
#: before it is read into memory.
MAX_TASK_FILE_BYTES = 1_000_000

Category = Literal["block", "bowl", "location"]
PredicateName = Literal[
    "in",
    "on",
    "at",
    "left_of",
    "right_of",
    "tower",
    "all_in_matching_bowl",
    "nothing_moved",
    "beside",
    "offset",
    "line",
]
Side = Literal["left", "right", "front", "behind"]
LineAxis = Literal["horizontal", "vertical", "diagonal"]

#: How far (m) a block may lie off the line through the others and still be "in a line":
#: about one block width, loose enough for where a real placement lands.
DEFAULT_LINE_TOLERANCE = 0.03


#: Placeholders a goal predicate may use as an argument, bound by its `each` / `any` selector.
EACH, ANY = "each", "any"

#: How many arguments each predicate takes (None: any number; see docs/tasks.md).
ARITY: dict[str, tuple[int, ...] | None] = {
    "in": (2,),
    "on": (2,),
    "at": (2,),
    "left_of": (2,),
    "right_of": (2,),
    "tower": None,
    "all_in_matching_bowl": (0,),
    "nothing_moved": None,
    "beside": (2,),
    "offset": (1,),
    "line": None,
}


def places() -> dict[str, str]:
    """Every named table place a goal or a location role may use: location -> 'location',
    zone -> 'zone'."""
    return {**{n: "location" for n in LOCATIONS}, **{n: "zone" for n in ZONES}}


def expand_colours(value: str | tuple[str, ...] | None) -> tuple[str, ...] | None:
    """`warm` -> its colours; `blue` -> (blue,); a list -> itself (groups expanded)."""
    if value is None:
        return None
    items = (value,) if isinstance(value, str) else tuple(value)
    out: list[str] = []
    for item in items:
        out += COLOUR_GROUPS.get(item, (item,))
    return tuple(dict.fromkeys(out))


def _check_colours(value: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
    colours = expand_colours(value)
    if colours is not None:
        unknown = [c for c in colours if c not in COLOUR_NAMES]
        if unknown:
            raise ValueError(
                f"unknown colour(s) {unknown}; known: {list(COLOUR_NAMES)} "
                f"or groups {list(COLOUR_GROUPS)}"
            )
        if not colours:
            raise ValueError("an empty colour list matches nothing")
    return value


def _check_places(choices: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if choices is not None:
        unknown = [c for c in choices if c not in places()]
        if unknown or not choices:
            raise ValueError(f"unknown place(s) {unknown}; known: {list(places())}")
    return choices


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CountRange(_Strict):
    min: StrictInt = Field(ge=0, le=6)
    max: StrictInt = Field(ge=0, le=6)

    @model_validator(mode="after")
    def _ordered(self) -> CountRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max})")
        return self


def _as_range(value: object) -> object:
    """Accept `2` as shorthand for `{min: 2, max: 2}`."""
    return {"min": value, "max": value} if isinstance(value, int) else value


class SceneSpec(_Strict):
    blocks: CountRange = Field(description="how many blocks (roles and distractors together)")
    bowls: CountRange = Field(description="how many bowls (roles and distractors together)")
    matched_pairs: StrictInt = Field(
        0, ge=0, le=6, description="blocks that have a bowl of their colour"
    )
    colours: tuple[str, ...] = Field(COLOUR_NAMES, description="the palette colours are drawn from")

    _coerce = field_validator("blocks", "bowls", mode="before")(lambda cls, v: _as_range(v))

    @field_validator("colours")
    @classmethod
    def _known_colours(cls, colours: tuple[str, ...]) -> tuple[str, ...]:
        _check_colours(colours)
        return expand_colours(colours) or ()


class RoleSpec(_Strict):
    """A slot of the instruction, bound to an object sampled in the scene (or deliberately
    absent from it, for infeasible tasks), or to a named table place (`category: location`)."""

    category: Category
    colour: str | tuple[str, ...] | None = Field(
        None,
        description="the object's colour: one name, a list to draw from, or a group (warm, cool)",
    )
    absent: StrictBool = Field(
        False, description="the object is not in the scene (infeasible tasks)"
    )
    on: str | None = Field(None, description="this object starts stacked on (or in) that role")
    region: str | None = Field(None, description="sample this object's position inside that zone")
    reachable: StrictBool = Field(True, description="false: placed beyond the arm's reach")
    held: StrictBool = Field(False, description="the gripper starts the episode holding this block")
    choices: tuple[str, ...] | None = Field(
        None, description="location roles: the places to draw from (default: every location)"
    )
    closest_to: str | None = Field(
        None, description="the block on the table nearest to that role's object"
    )
    farthest_from: str | None = Field(
        None, description="the block on the table furthest from that role's object"
    )

    _colour_ok = field_validator("colour")(lambda cls, v: _check_colours(v))

    @model_validator(mode="before")
    @classmethod
    def _yaml_on_key(cls, data: object) -> object:
        """YAML 1.1 reads an unquoted key `on:` as the boolean true; the user meant `on`."""
        if isinstance(data, dict) and True in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str | None) -> str | None:
        if region is not None and region not in ZONES:
            raise ValueError(f"unknown region {region!r}; known: {list(ZONES)}")
        return region

    _places_ok = field_validator("choices")(lambda cls, v: _check_places(v))

    @model_validator(mode="after")
    def _coherent(self) -> RoleSpec:
        if self.category == "location":
            if (
                self.colour
                or self.absent
                or self.on
                or self.region
                or not self.reachable
                or self.held
            ):
                raise ValueError("a location role takes only `choices`")
        elif self.choices is not None:
            raise ValueError("`choices` is for location roles only")
        if self.absent and (self.on or self.region or not self.reachable):
            raise ValueError("an absent role cannot be placed (on, region, reachable)")
        if self.on is not None and (self.region or not self.reachable):
            raise ValueError(
                "a stacked role takes its position from its support (no region/reachable)"
            )
        if self.held and (
            self.category != "block" or self.absent or self.on or self.region or not self.reachable
        ):
            raise ValueError(
                "only a present, reachable block on the table can start held (no on/region/absent)"
            )
        if self.closest_to is not None and self.farthest_from is not None:
            raise ValueError("a role is either closest_to or farthest_from an object, not both")
        if self.nearness is not None and (
            self.category != "block"
            or self.colour
            or self.absent
            or self.on
            or self.region
            or not self.reachable
            or self.held
        ):
            raise ValueError(
                "closest_to / farthest_from pick a block by where it stands: no colour, on, "
                "region, absent, held or reachable"
            )
        return self

    @property
    def nearness(self) -> tuple[str, str] | None:
        """('closest', R) or ('farthest', R): the role is the block nearest to / furthest from R."""
        if self.closest_to is not None:
            return ("closest", self.closest_to)
        if self.farthest_from is not None:
            return ("farthest", self.farthest_from)
        return None


class Selector(_Strict):
    """Which objects a quantified predicate ranges over: `each: {category: block, colour: warm}`;
    or, for `any` of `at`, which places: `any: {category: location, choices: [...]}`."""

    category: Literal["block", "bowl", "location"]
    colour: str | tuple[str, ...] | None = None
    reachable: StrictBool | None = Field(
        None, description="only objects within (true) / beyond (false) reach"
    )
    exclude: tuple[str, ...] = Field((), description="roles to leave out")
    choices: tuple[str, ...] | None = Field(
        None, description="location selectors: these places (default: every location)"
    )

    _colour_ok = field_validator("colour")(lambda cls, v: _check_colours(v))

    _places_ok = field_validator("choices")(lambda cls, v: _check_places(v))

    @model_validator(mode="after")
    def _coherent(self) -> Selector:
        if self.category == "location":
            if self.colour is not None or self.reachable is not None or self.exclude:
                raise ValueError("a location selector takes only `choices`")
        elif self.choices is not None:
            raise ValueError("`choices` is for location selectors only")
        return self


class PredicateSpec(_Strict):
    pred: PredicateName
    args: tuple[str, ...] = ()
    each: Selector | None = Field(
        None, description="binds the `each` argument: the predicate must hold for all"
    )
    any: Selector | None = Field(
        None, description="binds the `any` argument: some matching object will do"
    )
    distinct: StrictBool = Field(
        False, description="with each and any: every `each` object gets its own `any` member"
    )
    side: Side | None = Field(
        None, description="beside / offset: which side (left, right, front, behind)"
    )
    axis: LineAxis | None = Field(None, description="line: horizontal, vertical or diagonal")
    tolerance: float | None = Field(
        None, gt=0.0, le=0.1, description="line: how far (m) off the line a block may lie"
    )

    @field_validator("pred", mode="before")
    @classmethod
    def _yaml_on(cls, value: object) -> object:
        """YAML 1.1 reads an unquoted `on` as the boolean true; the user meant the predicate."""
        return "on" if value is True else value

    @model_validator(mode="after")
    def _arity(self) -> PredicateSpec:
        arity = ARITY[self.pred]
        if arity is not None and len(self.args) not in arity:
            raise ValueError(f"{self.pred} takes {arity[0]} argument(s), got {len(self.args)}")
        if self.pred == "tower" and len(self.args) == 1:
            raise ValueError("tower takes no arguments (all blocks) or at least 2 (bottom first)")
        for key in (EACH, ANY):
            if (key in self.args) != (getattr(self, key) is not None):
                raise ValueError(f"the argument {key!r} and the field {key!r} go together")
            if self.args.count(key) > 1:
                raise ValueError(f"the argument {key!r} may appear once")
        if (self.side is not None) != (self.pred in ("beside", "offset")):
            raise ValueError("`side` goes with beside and offset, which need it")
        if (self.axis is not None) != (self.pred == "line"):
            raise ValueError("`axis` goes with line, which needs it")
        if self.tolerance is not None and self.pred != "line":
            raise ValueError("`tolerance` is for line only")
        if self.pred == "line" and self.args != (EACH,) and len(self.args) < 2:
            raise ValueError("line takes [each] (with a block selector) or at least 2 blocks")
        if self.distinct and not (EACH in self.args and ANY in self.args):
            raise ValueError("`distinct` needs both an `each` and an `any` argument")
        if self.any is not None and self.any.category == "location" and self.pred != "at":
            raise ValueError("only at() takes a location selector")
        if self.each is not None and self.each.category == "location":
            raise ValueError("`each` ranges over objects; use `any` for a set of places")
        return self

    @property
    def line_tolerance(self) -> float:
        return self.tolerance if self.tolerance is not None else DEFAULT_LINE_TOLERANCE


class Milestones(_Strict):
    """States that must each hold at some step of the episode (not necessarily at the end):
    "visit every corner", "go around the corners clockwise"."""

    order: Literal["ordered", "unordered"] = Field(
        description="ordered: each after the one before it; unordered: in any order"
    )
    states: tuple[PredicateSpec, ...] = Field(min_length=1)


class Instructions(_Strict):
    """Templates per split. `independent` is the held-out set written outside the project
    (`tasks/independent/`): a task holding it holds nothing else, so no trainer or example pool
    that reads `seen`/`unseen` can ever meet its text."""

    seen: tuple[str, ...] = ()
    unseen: tuple[str, ...] = ()
    independent: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_kind(self) -> Instructions:
        if self.independent and (self.seen or self.unseen):
            raise ValueError(
                "an independent task has only `independent` instructions (no seen/unseen)"
            )
        if not self.independent and not self.seen:
            raise ValueError("`seen` needs at least one template")
        return self


class TaskSpec(_Strict):
    name: str
    family: str
    description: str = ""
    scene: SceneSpec
    roles: dict[str, RoleSpec] = Field(default_factory=dict)
    instructions: Instructions
    goal: tuple[PredicateSpec, ...] = ()
    milestones: Milestones | None = Field(None, description="states to pass through on the way")
    max_steps: StrictInt = Field(ge=1, le=50)  # strict: YAML `true` is not a step count

    @field_validator("roles")
    @classmethod
    def _role_names(cls, roles: dict[str, RoleSpec]) -> dict[str, RoleSpec]:
        """Role names appear in templates as `{R}`: plain identifiers only (no `__x__`)."""
        for name in roles:
            if not re.fullmatch(ROLE_NAME, name):
                raise ValueError(
                    f"{name[:40]!r} is not a role name; use letters and digits, "
                    "joined by single underscores (A, block_2)"
                )
        return roles

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        if not self.goal and self.milestones is None:
            raise ValueError("a task needs a goal, milestones, or both")
        known_places = places()
        states = self.milestones.states if self.milestones is not None else ()
        for i, p in [
            *((f"goal.{i}", p) for i, p in enumerate(self.goal)),
            *((f"milestones.states.{i}", p) for i, p in enumerate(states)),
        ]:
            for arg in p.args:
                if arg in self.roles or arg in (EACH, ANY):
                    continue
                if p.pred == "at" and arg == p.args[-1] and arg in known_places:
                    continue
                raise ValueError(f"{i}: predicate {p.pred!r} names unknown role {arg!r}")
            for key in (EACH, ANY):
                sel = getattr(p, key)
                for r in sel.exclude if sel else ():
                    if r not in self.roles:
                        raise ValueError(f"{i}.{key}.exclude: unknown role {r!r}")
            if p.pred == "at":
                target = p.args[1]
                if target in self.roles and self.roles[target].category != "location":
                    raise ValueError(
                        f"{i}: at() needs a place or a location role, {target!r} is a "
                        f"{self.roles[target].category}"
                    )
            elif any(a in self.roles and self.roles[a].category == "location" for a in p.args):
                raise ValueError(f"{i}: only at() takes a location role")
            if p.pred in ("line", "offset", "beside"):
                cats = [self.roles[a].category for a in p.args if a in self.roles]
                if p.each is not None:
                    cats.append(p.each.category)
                moved = cats[:1] if p.pred == "beside" else cats
                if any(c != "block" for c in moved):
                    raise ValueError(f"{i}: {p.pred}() moves blocks; {p.args[0]!r} is not one")
        held = [n for n, r in self.roles.items() if r.held]
        if len(held) > 1:
            raise ValueError(f"roles: the gripper can hold one block, {held} are all held")
        for name, role in self.roles.items():
            if role.on is not None and role.on in held:
                raise ValueError(
                    f"roles.{name}.on: {role.on!r} starts in the gripper; nothing can be on it"
                )
            if role.nearness is not None:
                ref = self.roles.get(role.nearness[1])
                if (
                    ref is None
                    or role.nearness[1] == name
                    or ref.category == "location"
                    or ref.absent
                ):
                    raise ValueError(
                        f"roles.{name}: {role.nearness[0]} needs another present block or bowl "
                        f"role, not {role.nearness[1]!r}"
                    )
                if ref.nearness is not None:
                    raise ValueError(
                        f"roles.{name}: {role.nearness[1]!r} is itself chosen by where it stands"
                    )
            if role.on is not None:
                if role.on not in self.roles or role.on == name:
                    raise ValueError(f"roles.{name}.on: unknown role {role.on!r}")
                support = self.roles[role.on]
                if support.nearness is not None:
                    raise ValueError(
                        f"roles.{name}.on: {role.on!r} is chosen by where it stands; nothing can "
                        "start on it"
                    )
                if support.category == "location" or support.absent or role.category != "block":
                    raise ValueError(
                        f"roles.{name}.on: only a block can start on a present block or bowl"
                    )
            seen, cur = {name}, role
            while cur.on is not None:
                if cur.on in seen:
                    raise ValueError(f"roles.{name}.on: the stack is cyclic")
                seen.add(cur.on)
                cur = self.roles[cur.on]
            if role.colour is not None:
                allowed = set(expand_colours(role.colour) or ())
                if not role.absent and not allowed & set(self.scene.colours):
                    raise ValueError(
                        f"roles.{name}.colour: none of {sorted(allowed)} is in scene.colours"
                    )
        for split in ("seen", "unseen", "independent"):
            templates = getattr(self.instructions, split)
            for i, t in enumerate(templates):
                where = f"instructions.{split}.{i}"
                for role in template_roles(t, where):
                    if role not in self.roles:
                        raise ValueError(
                            f"{where}: {{{role}}} names no declared role; "
                            f"roles: {', '.join(self.roles) or '(none)'}"
                        )
                _check_template_text(t, where, self.roles)
        for category in ("block", "bowl"):
            needed = sum(1 for r in self.roles.values() if r.category == category and not r.absent)
            available = getattr(self.scene, category + "s").min
            if needed > available:
                raise ValueError(
                    f"impossible scene: roles need {needed} {category}(s), scene.{category}s has "
                    f"at least {available}"
                )
        if self.scene.matched_pairs > min(self.scene.blocks.min, self.scene.bowls.min):
            raise ValueError(
                "impossible scene: matched_pairs exceeds the number of blocks or bowls"
            )
        distinct = (
            self.scene.blocks.max
            + self.scene.bowls.max
            - self.scene.matched_pairs
            + sum(1 for r in self.roles.values() if r.absent)
        )
        if distinct > len(self.scene.colours):
            raise ValueError(
                f"impossible scene: {distinct} distinct colours needed, scene.colours has "
                f"{len(self.scene.colours)}"
            )
        return self


#: The only placeholders an instruction template may hold: `{R}` (the bound object's name),
#: `{R.colour}` and `{R.category}` for a declared role R. Templates are filled by substituting
#: exactly these (`instance.render_template`), never by `str.format`: its attribute and index
#: lookups (`{A.__class__...}`) reach module globals and the environment. A role name is a
#: plain identifier (letters, digits, single inner underscores): never `_x` or `__x__`.
ROLE_NAME = r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*"
PLACEHOLDER = re.compile(r"\{(" + ROLE_NAME + r")(?:\.(colour|category))?\}")


def template_roles(template: str, where: str = "template") -> list[str]:
    """The roles `template` names, in order. A brace that is not part of a placeholder raises
    ValueError (one line, starting with `where`), so nothing but the grammar above reaches the
    renderer."""
    roles: list[str] = []
    pos = 0
    for m in [*PLACEHOLDER.finditer(template), None]:
        literal = template[pos : m.start() if m else len(template)]
        bad = min((literal.find(c) for c in "{}" if c in literal), default=-1)
        if bad >= 0:
            start = pos + bad
            end = template.find("}", start + 1) if template[start] == "{" else start
            fragment = template[start : end + 1 if 0 <= end < start + 40 else start + 40]
            raise ValueError(
                f"{where}: {fragment!r} is not a placeholder; a template may use only "
                "{R}, {R.colour} or {R.category} for a declared role R (no other braces)"
            )
        if m is None:
            break
        roles.append(m.group(1))
        pos = m.end()
    return roles


def _check_template_text(template: str, where: str, roles: dict[str, RoleSpec]) -> None:
    """What the planner refuses in an instruction is refused here, at load, rather than in
    whichever episode samples the template: no text, or control characters. `{L.colour}` of
    a location role is refused too: a place has no colour, and it rendered as nothing."""
    if not " ".join(template.split()):
        raise ValueError(f"{where}: the template is empty")
    if not all(ch.isprintable() for ch in " ".join(template.split())):
        raise ValueError(f"{where}: the template contains control characters")
    for m in PLACEHOLDER.finditer(template):
        if m.group(2) == "colour" and roles[m.group(1)].category == "location":
            raise ValueError(f"{where}: {m.group(0)}: a location role has no colour")


class _TaskLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key written twice in one mapping: PyYAML silently
    keeps the last, so a second `max_steps:` or a role declared twice ran as something the
    author did not see. Keys brought in by a merge (`<<: *base`) may still be overridden."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # unhashable: the base class reports it
                continue
            if duplicate:
                raise _DuplicateKey(key_node.start_mark.line + 1)
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, line: int):
        super().__init__(f"line {line}: a key written twice in one mapping")
        self.line = line


_TaskLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _TaskLoader.construct_mapping
)


def available_tasks() -> list[str]:
    return sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))


def _find_task_file(path: Path) -> Path:
    """The working directory first, then the repository's examples/ (with or without the
    leading `examples/`); the error lists every place looked at."""
    candidates = [path.expanduser()]
    if not path.is_absolute():
        parts = path.parts
        if parts[0] == EXAMPLES_DIR.name:
            candidates.append(EXAMPLES_DIR.parent / path)
        candidates += [EXAMPLES_DIR / path, EXAMPLES_DIR / "tasks" / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
        if candidate.exists():  # a directory or a FIFO: "not found" would send the user looking
            raise UnknownTaskError(
                f"task file {str(path)!r} is not a regular file: {candidate.resolve()}"
            )
    looked = ", ".join(
        f"{c.resolve()}" + (" (working directory)" if i == 0 else "")
        for i, c in enumerate(dict.fromkeys(candidates))
    )
    raise UnknownTaskError(f"task file {str(path)!r} not found; looked in: {looked}")


def load_task(name_or_path: str | Path) -> TaskSpec:
    """Load a task by packaged name (`put_block_in_bowl`) or from a YAML file path.

    Raises `UnknownTaskError` / `ConfigError` with a one-line message naming the file and field.
    """
    text = str(name_or_path).strip()
    if not text:
        raise UnknownTaskError("empty task name")
    path = Path(text)
    if path.suffix not in (".yaml", ".yml"):
        path = SPEC_DIR / f"{text}.yaml"
        if not path.is_file():
            raise UnknownTaskError(
                f"unknown task {text!r}; available: {', '.join(available_tasks())} "
                "(or pass a path to a task .yaml file)"
            )
    else:
        path = _find_task_file(path)
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_TASK_FILE_BYTES + 1)
        if len(raw) > MAX_TASK_FILE_BYTES:
            raise ConfigError(f"{path}: the task file is larger than {MAX_TASK_FILE_BYTES} bytes")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{path}: cannot read the task file ({reason})") from None
    try:
        data = yaml.load(text, Loader=_TaskLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # bad dates raise ValueError
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML (nested too deeply)") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a task file must be a YAML mapping")
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        # Cross-field checks name their field at the start of the message ("goal.0: ...").
        located = re.match(r"^([A-Za-z_][\w.]*): (.*)$", msg)
        if located and located.group(1).split(".")[0] in TaskSpec.model_fields:
            where = ".".join(filter(None, (where, located.group(1))))
            msg = located.group(2)
        msg = " ".join(msg.split())  # one line, whatever the validator wrote
        where = " ".join(where.split())[:120]  # a mapping key from the file is part of it
        raise ConfigError(f"{path}: field '{where or '(top level)'}': {msg}") from None

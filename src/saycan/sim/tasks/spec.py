"""Task specifications as YAML data, validated by a schema.

A task says how to build the scene (which objects, colours, stacks), which roles the
instruction's slots refer to, instruction paraphrases split into `seen` and `unseen`, a goal
made of predicates over the final world state, and a step budget. The expert plan is derived
from the goal, so adding a task needs no code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from saycan.errors import ConfigError, UnknownTaskError
from saycan.sim.objects_catalog import COLOUR_NAMES

SPEC_DIR = Path(__file__).parent / "specs"

Category = Literal["block", "bowl"]
PredicateName = Literal["in", "on", "at", "tower", "all_in_matching_bowl", "nothing_moved"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CountRange(_Strict):
    min: int = Field(ge=0, le=6)
    max: int = Field(ge=0, le=6)

    @model_validator(mode="after")
    def _ordered(self) -> CountRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max})")
        return self


def _as_range(value: object) -> object:
    """Accept `2` as shorthand for `{min: 2, max: 2}`."""
    return {"min": value, "max": value} if isinstance(value, int) else value


class SceneSpec(_Strict):
    blocks: CountRange
    bowls: CountRange
    matched_pairs: int = Field(0, ge=0, le=6, description="blocks that have a bowl of their colour")
    colours: tuple[str, ...] = COLOUR_NAMES

    _coerce = field_validator("blocks", "bowls", mode="before")(lambda cls, v: _as_range(v))

    @field_validator("colours")
    @classmethod
    def _known_colours(cls, colours: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in colours if c not in COLOUR_NAMES]
        if unknown:
            raise ValueError(f"unknown colour(s) {unknown}; known: {list(COLOUR_NAMES)}")
        return colours


class RoleSpec(_Strict):
    """A slot of the instruction, bound to an object sampled in the scene (or deliberately
    absent from it, for infeasible tasks)."""

    category: Category
    absent: bool = False
    on: str | None = Field(None, description="this object starts stacked on that role")


class PredicateSpec(_Strict):
    pred: PredicateName
    args: tuple[str, ...] = ()

    @field_validator("pred", mode="before")
    @classmethod
    def _yaml_on(cls, value: object) -> object:
        """YAML 1.1 reads an unquoted `on` as the boolean true; the user meant the predicate."""
        return "on" if value is True else value


class Instructions(_Strict):
    seen: tuple[str, ...] = Field(min_length=1)
    unseen: tuple[str, ...] = ()


class TaskSpec(_Strict):
    name: str
    family: str
    description: str = ""
    scene: SceneSpec
    roles: dict[str, RoleSpec] = Field(default_factory=dict)
    instructions: Instructions
    goal: tuple[PredicateSpec, ...] = Field(min_length=1)
    max_steps: int = Field(ge=1, le=50)

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        for p in self.goal:
            for arg in p.args:
                if arg not in self.roles and p.pred != "at":
                    raise ValueError(f"goal predicate {p.pred!r} names unknown role {arg!r}")
        for name, role in self.roles.items():
            if role.on is not None and role.on not in self.roles:
                raise ValueError(f"role {name!r} is on unknown role {role.on!r}")
        for split, templates in (("seen", self.instructions.seen), ("unseen", self.instructions.unseen)):
            for t in templates:
                for slot in _slots(t):
                    if slot not in self.roles:
                        raise ValueError(f"{split} instruction {t!r} uses unknown slot {{{slot}}}")
        for category in ("block", "bowl"):
            needed = sum(1 for r in self.roles.values() if r.category == category and not r.absent)
            available = getattr(self.scene, category + "s").max
            if needed > available:
                raise ValueError(
                    f"impossible scene: roles need {needed} {category}(s), scene has at most {available}"
                )
        if self.scene.matched_pairs > min(self.scene.blocks.min, self.scene.bowls.min):
            raise ValueError("impossible scene: matched_pairs exceeds the number of blocks or bowls")
        return self


def _slots(template: str) -> list[str]:
    import string

    return [field for _, field, _, _ in string.Formatter().parse(template) if field]


def available_tasks() -> list[str]:
    return sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))


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
    elif not path.is_file():
        raise UnknownTaskError(f"task file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a task file must be a YAML mapping")
    try:
        return TaskSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(f"{path}: field '{where}': {err['msg']}") from None

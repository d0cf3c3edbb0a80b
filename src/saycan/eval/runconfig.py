"""The settings of `saycan run`, `saycan eval` and `saycan calibrate`, checked once, up front.

Why here and why a schema: these values used to be read with `int(...)`, `or` and `range(...)`
deep inside the episode loop, so a bad one surfaced as a traceback with exit code 1 (the code
for "the episode failed") or, worse, as a plausible result (`seed=1.5` ran seed 1,
`max_steps=0` meant "the task's default", `episodes_per_task=-3` ran nothing). The CLI calls
`check_command` after composing the overrides and before Hydra creates a directory or any
model loads: every bad value, every sweep value included, is one `ConfigError` line (exit 2).

It also keeps free text literal (`literal_free_text`): the instruction and task names a user
types are data, and OmegaConf interpolation (`${oc.env:SECRET}`) never expands inside them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
)

from saycan.errors import ConfigError
from saycan.planner.prompts import clean_instruction
from saycan.sim.tasks.instance import SPLITS, Task
from saycan.sim.tasks.spec import load_task

#: Free-text keys: what the user types there is taken literally (no interpolation).
LITERAL_KEYS = ("instruction", "task", "tasks")

#: What each checked key accepts, in the words of the one-line error.
EXPECTED = {
    "seed": "a non-negative integer",
    "seed_start": "a non-negative integer",
    "episodes_per_task": "an integer >= 1",
    "max_steps": "null or an integer >= 1",
    "split": f"one of {', '.join(SPLITS)}",
    "task": "a task name or a path to a task .yaml file",
    "tasks": "a task, family or file name, or a non-empty list of them",
    "instruction": "null or a line of text (quote one that looks like a number or a list)",
    "video": "true or false",
    "frames": "true or false",
    "quiet": "true or false",
    "output_dir": "null or a directory path",
    "output": "null or a file path",
    "epsilon": "a number strictly between 0 and 1",
}

class RunSettings(BaseModel):
    """`saycan run` (config.yaml): one episode. Component groups (llm, robot, safety, ...) are
    validated by their own constructors and are not repeated here."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    task: StrictStr = Field(min_length=1)
    seed: StrictInt = Field(ge=0)
    split: StrictStr
    instruction: StrictStr | None = None
    max_steps: StrictInt | None = Field(None, ge=1)
    video: StrictBool = True
    frames: StrictBool = True
    quiet: StrictBool = False

    @field_validator("split")
    @classmethod
    def _known_split(cls, split: str) -> str:
        if split not in SPLITS:
            raise ValueError("unknown split")
        return split

    @field_validator("instruction")
    @classmethod
    def _usable_instruction(cls, text: str | None) -> str | None:
        if text is not None:
            clean_instruction(text)  # its InstructionError is reported as is
        return text


class EvalSettings(RunSettings):
    """`saycan eval` (eval.yaml): tasks x `episodes_per_task` seeds from `seed_start`."""

    tasks: StrictStr | list[StrictStr] = Field(min_length=1)
    seed_start: StrictInt = Field(ge=0)
    episodes_per_task: StrictInt = Field(ge=1)
    output_dir: StrictStr | None = None


class CalibrateSettings(EvalSettings):
    """`saycan calibrate` (calibrate.yaml): eval's keys, a coverage target and an output file."""

    epsilon: StrictFloat = Field(gt=0.0, lt=1.0)
    output: StrictStr | None = None

    @field_validator("epsilon", mode="before")
    @classmethod
    def _int_is_a_number(cls, value: object) -> object:
        return float(value) if type(value) is int else value


SCHEMAS: dict[str, type[RunSettings]] = {
    "run": RunSettings,
    "eval": EvalSettings,
    "calibrate": CalibrateSettings,
}


# ---------------------------------------------------------------------- free text, literally
def _omegaconf_literal(text: str) -> str:
    """`text` escaped so that OmegaConf resolves it to `text` itself: every `${` gets a
    backslash, and backslashes right before it are doubled (OmegaConf's escaping rules)."""
    return re.sub(r"(\\*)\$\{", lambda m: "\\" * (2 * len(m.group(1)) + 1) + "${", text)


def _hydra_quoted(text: str) -> str:
    """`text` as a single-quoted Hydra override value: quotes, and backslashes that precede a
    quote or the closing quote, are escaped."""
    def escape(m: re.Match[str]) -> str:
        return "\\" * (2 * len(m.group(1))) + ("\\'" if m.group(2) else "")

    return "'" + re.sub(r"(\\*)('|$)", escape, text) + "'"


def _literal_value(value: Any) -> str | None:
    """The override text for a parsed value that holds `${`, or None if it holds none."""
    if isinstance(value, str):
        return _hydra_quoted(_omegaconf_literal(value)) if "${" in value else None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        if any("${" in v for v in value):
            return "[" + ",".join(_hydra_quoted(_omegaconf_literal(v)) for v in value) + "]"
    return None


def literal_free_text(overrides: Sequence[str]) -> list[str]:
    """The overrides with every free-text value (`LITERAL_KEYS`) made literal: a `${...}` in
    it stays those characters and is never resolved (`instruction='${oc.env:API_KEY}'` must
    not put the key into the instruction, the trace and the prompt). Other overrides, and
    free text without `${`, pass unchanged. Raises `ConfigError` where that is impossible."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ChoiceSweep
    from hydra.errors import HydraException

    out: list[str] = []
    parser = OverridesParser.create()
    for text in overrides:
        try:
            (o,) = parser.parse_overrides([text])
        except HydraException:
            out.append(text)  # the override check reports the syntax error
            continue
        key = o.get_key_element()
        if key.lstrip("+~") not in LITERAL_KEYS or o.is_delete():
            out.append(text)
            continue
        prefix = text[: len(text) - len(text.lstrip("+~"))]
        if o.is_sweep_override():
            sweep = o.value()
            if not isinstance(sweep, ChoiceSweep):
                if "${" in text:
                    raise ConfigError(f"{o.get_key_element()}: a swept value cannot hold '${{'")
                out.append(text)
                continue
            parts = [_literal_value(v) for v in sweep.list]
            if all(p is None for p in parts):
                out.append(text)
                continue
            values = [
                p if p is not None else _hydra_quoted(v) if isinstance(v, str) else str(v)
                for p, v in zip(parts, sweep.list)
            ]
            rewritten = f"{prefix}{o.key_or_group}={','.join(values)}"
        else:
            literal = _literal_value(o.value())
            if literal is None:
                out.append(text)
                continue
            rewritten = f"{prefix}{o.key_or_group}={literal}"
        _check_round_trip(rewritten, o)
        out.append(rewritten)
    return out


def _check_round_trip(rewritten: str, original: Any) -> None:
    """The rewritten override must give each job, resolved, exactly the value the user typed."""
    got = [_resolved(v) for v in _job_values(rewritten)]
    if got != _job_values(original.input_line):
        key = original.get_key_element()
        raise ConfigError(f"{key}: this value cannot be taken literally; remove '${{'")


def _resolved(value: Any) -> Any:
    """What a job reads for `value` once OmegaConf resolves it (lists as plain lists)."""
    node = OmegaConf.create({"v": value})
    return OmegaConf.to_container(node, resolve=True)["v"]


def _job_values(override: str) -> list[Any]:
    """The parsed (unresolved) value each job of `override` gets: one, or one per choice."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    (o,) = parser.parse_overrides([override])
    if not o.is_sweep_override():
        return [o.value()]
    key = o.get_key_element()
    return [parser.parse_overrides([f"{key}={v}"])[0].value() for v in o.sweep_string_iterator()]


# ---------------------------------------------------------------------------- the settings
def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_settings(command: str, cfg: DictConfig | dict) -> RunSettings:
    """The checked settings of `command`; `ConfigError` (one line) for the first bad value."""
    schema = SCHEMAS[command]
    raw = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=False)
    data: dict[str, Any] = {}
    for key in schema.model_fields:
        if key not in raw:
            continue
        value = raw[key]
        if isinstance(value, str) and "${" in value and isinstance(cfg, DictConfig):
            try:  # a packaged interpolation; a user's free text was made literal already
                value = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
            except Exception as exc:  # noqa: BLE001 - OmegaConf raises many kinds
                reason = " ".join(str(exc).split())
                raise ConfigError(f"invalid {key} {value!r}: {reason}") from None
            value = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        data[key] = value
    try:  # an unusable instruction raises clean_instruction's own one-line InstructionError
        return schema.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else "(settings)"
        shown = _shown(raw.get(key))  # the value as written: an interpolation stays unresolved
        expected = EXPECTED.get(key, err["msg"])
        raise ConfigError(f"invalid {key} {shown}: expected {expected}") from None


def _sweep_values(override: Any) -> list[Any]:
    """Every value a sweep override gives its key; a glob (task names) is checked elsewhere."""
    from hydra.core.override_parser.types import ChoiceSweep, Glob, RangeSweep

    sweep = override.value()
    if isinstance(sweep, Glob):
        return []
    if isinstance(sweep, (ChoiceSweep, RangeSweep)):
        return _job_values(override.input_line)
    raise ConfigError(
        f"invalid {override.get_key_element()} {override.get_value_element_as_str()}: "
        "sweep it over a list of values or a range()"
    )


def check_command(
    command: str,
    config_name: str,
    overrides: Sequence[str],
    multirun: bool,
    cwd: Path | None = None,
) -> RunSettings:
    """Compose `command`'s config with the overrides (a sweep through each of its values),
    validate the settings and check that the run directory and the output locations can be
    written. Raises `ConfigError` (one line); returns the settings of the first value."""
    from hydra import compose, initialize_config_module
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(list(overrides))
    first = [
        f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}" if o.is_sweep_override()
        else o.input_line
        for o in parsed
    ]
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(config_name, overrides=first, return_hydra_config=True)
    settings = validate_settings(command, cfg)
    base = settings.model_dump()
    schema = SCHEMAS[command]
    jobs = [settings]
    for o in parsed:
        key = o.get_key_element().lstrip("+~")
        if not o.is_sweep_override() or key not in schema.model_fields:
            continue
        jobs += [validate_settings(command, {**base, key: v}) for v in _sweep_values(o)]
    if command == "run":  # eval and calibrate check their task lists (eval.sweep.check_sweep)
        for task, split in dict.fromkeys((s.task, s.split) for s in jobs):
            Task(load_task(task), split=split)  # the file parses, the split has templates
    cwd = Path.cwd() if cwd is None else cwd
    if multirun:
        _check_dir_setting(cfg, "hydra.sweep.dir", "sweep directory", cwd)
    else:
        _check_dir_setting(cfg, "hydra.run.dir", "run directory", cwd)
    output_dir = getattr(settings, "output_dir", None)
    if output_dir:
        check_writable_dir(_against(output_dir, cwd), "output_dir")
    output = getattr(settings, "output", None)
    if output:
        target = _against(output, cwd)
        if target.is_dir():
            raise ConfigError(f"output {output!r} is a directory; give a file path")
        check_writable_dir(target.parent, "output's directory")
    return settings


def _against(path: str, cwd: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else cwd / p


def _check_dir_setting(cfg: DictConfig, key: str, what: str, cwd: Path) -> None:
    """Check the directory Hydra will create; one it cannot resolve yet (an interpolation into
    the running job, `${hydra:...}`) is left to Hydra."""
    try:
        value = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
    except Exception:  # noqa: BLE001 - resolvable only inside the job
        return
    if value:
        check_writable_dir(_against(str(value), cwd), what)


def check_writable_dir(path: Path, what: str) -> None:
    """`path` is, or can be made, a directory this process writes files in: the missing
    directories are created, a probe file written and removed, and what was created removed
    again (nothing is left behind). `ConfigError` names the path and the reason."""
    path = Path(os.path.abspath(path))
    missing: list[Path] = []
    existing = path
    while not existing.exists() and existing != existing.parent:
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"cannot use {what} {str(path)!r}: {str(existing)!r} is not a directory")
    created: list[Path] = []
    try:
        for d in reversed(missing):
            d.mkdir()
            created.append(d)
        probe = path / f".saycan-write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"cannot write in {what} {str(path)!r}: {reason}") from None
    finally:
        for d in reversed(created):
            try:
                d.rmdir()
            except OSError:
                pass

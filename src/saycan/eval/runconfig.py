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

import math
import os
import re
import threading
from collections.abc import Sequence
from itertools import islice
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
#: Free text in a component's config (the prompt's header and few-shot examples, sent to the
#: language model and recorded in every trace): `${` is refused there, since escaping cannot
#: keep it literal: `instantiate` resolves its config in place (`\${x}` becomes `${x}`) and
#: then reads it, resolving it a second time (`prompt.header='${oc.env:API_KEY}'`).
NO_INTERPOLATION_PREFIXES = ("prompt",)

#: The most jobs one sweep may make: `seed=range(0,100000000)` would otherwise keep the check
#: (and Hydra, which lists every job first) busy for minutes with no output.
MAX_SWEEP_JOBS = 10_000

#: What each checked key accepts, in the words of the one-line error.
EXPECTED = {
    "seed": "a non-negative integer",
    "seed_start": "a non-negative integer",
    "episodes_per_task": "an integer >= 1",
    "max_steps": "null or an integer >= 1",
    "split": f"one of {', '.join(SPLITS)}",
    "task": "a task name, a path to a task .yaml file, or null (an episode without a task)",
    "outcome_from_human": "true or false",
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

    task: StrictStr | None = Field(min_length=1)  # null: an episode without a task
    seed: StrictInt = Field(ge=0)
    split: StrictStr
    instruction: StrictStr | None = None
    max_steps: StrictInt | None = Field(None, ge=1)
    video: StrictBool = True
    frames: StrictBool = True
    quiet: StrictBool = False
    outcome_from_human: StrictBool = False

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
    from hydra.core.override_parser.types import ChoiceSweep, QuotedString
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
        bare = key.lstrip("+~")
        if "${" in text and any(
            bare == p or bare.startswith(p + ".") for p in NO_INTERPOLATION_PREFIXES
        ):
            raise ConfigError(f"{bare}: free text cannot hold '${{'")
        if bare not in LITERAL_KEYS or o.is_delete():
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
            # a quoted choice ('...') parses to a QuotedString: its text is the value typed
            items = [v.text if isinstance(v, QuotedString) else v for v in sweep.list]
            parts = [_literal_value(v) for v in items]
            if all(p is None for p in parts):
                out.append(text)
                continue
            values = [
                p if p is not None else _hydra_quoted(v) if isinstance(v, str) else str(v)
                for p, v in zip(parts, items)
            ]
            rewritten = f"{prefix}{o.key_or_group}={','.join(values)}"
        else:
            literal = _literal_value(o.value())
            if literal is None and "${" in text:  # a mapping, or a list holding one
                raise ConfigError(f"{bare}: this value cannot be taken literally; remove '${{'")
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
    return [parser.parse_overrides([f"{key}={v}"])[0].value() for v in sweep_strings(o)]


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
                # not its message: that quotes what an inner interpolation resolved to
                # (`seed='${${oc.env:API_KEY}}'`: "Interpolation key 'sk-...' not found")
                raise ConfigError(
                    f"invalid {key} {_shown(value)}: it does not resolve ({type(exc).__name__})"
                ) from None
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


def sweep_strings(override: Any) -> list[str]:
    """The value strings of a sweep override, each as its job gets it. `ConfigError` for a
    sweep over no values (`range(3,3)`: Hydra would run nothing, silently), over more than
    `MAX_SWEEP_JOBS` values, or over a `hydra.*` setting (Hydra refuses those with exit 1)."""
    key = override.get_key_element().lstrip("+~")
    if key == "hydra" or key.startswith("hydra."):
        raise ConfigError(
            f"{override.input_line!r}: a hydra setting cannot be swept; quote the value"
        )
    values = list(islice(override.sweep_string_iterator(), MAX_SWEEP_JOBS + 1))
    if not values:
        raise ConfigError(f"{override.input_line!r} sweeps over no values")
    if len(values) > MAX_SWEEP_JOBS:
        raise ConfigError(
            f"{override.input_line[:60]!r} sweeps over more than "
            f"{MAX_SWEEP_JOBS} values; split the sweep"
        )
    return values


def check_sweep_size(counts: Sequence[int]) -> None:
    """A sweep makes the product of its keys' value counts jobs: at most `MAX_SWEEP_JOBS`."""
    if math.prod(counts) > MAX_SWEEP_JOBS:
        raise ConfigError(
            f"the sweep makes {math.prod(counts)} jobs; the limit is {MAX_SWEEP_JOBS}: split it"
        )


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
        f"{o.get_key_element()}={sweep_strings(o)[0]}" if o.is_sweep_override() else o.input_line
        for o in parsed
    ]
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(config_name, overrides=first, return_hydra_config=True)
    if OmegaConf.select(cfg, "hydra.job.chdir", default=False) is not False:
        # task files, output_dir and output are checked where saycan starts; a job that
        # changed into its run directory read them relative to it instead
        raise ConfigError(
            "hydra.job.chdir must stay false: paths are relative to where saycan runs"
        )
    settings = validate_settings(command, cfg)
    base = settings.model_dump()
    schema = SCHEMAS[command]
    jobs = [settings]
    swept = [o for o in parsed if o.is_sweep_override()]
    if multirun:  # Hydra's sweeper adds these to the command line's (which replace them)
        typed = {o.get_key_element().lstrip("+~") for o in parsed}
        swept = [o for o in _sweeper_params(cfg) if o.get_key_element() not in typed] + swept
    counts = []
    for o in swept:
        values = _sweep_values(o) if o.is_sweep_override() else [o.value()]
        counts.append(len(values))
        key = o.get_key_element().lstrip("+~")
        if key in schema.model_fields:
            jobs += [validate_settings(command, {**base, key: v}) for v in values]
    check_sweep_size(counts)
    if command == "run":  # eval and calibrate check their task lists (eval.sweep.check_sweep)
        for task, split in dict.fromkeys((s.task, s.split) for s in jobs if s.task is not None):
            Task(load_task(task), split=split)  # the file parses, the split has templates
    cwd = Path.cwd() if cwd is None else cwd
    if multirun:
        _check_dir_setting(cfg, "hydra.sweep.dir", "sweep directory", cwd)
        _check_sweep_subdir(cfg, cwd)
    else:
        _check_dir_setting(cfg, "hydra.run.dir", "run directory", cwd)
    _check_output_subdir(cfg, multirun, cwd)
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


def _sweeper_params(cfg: DictConfig) -> list[Any]:
    """`hydra.sweeper.params` (an experiment's sweep, or set on the command line) as parsed
    overrides. They bypass the command line's checks, so they get the same ones here; a
    `${` is refused outright: the sweeper resolves it once and the job a second time, so no
    escaping keeps it literal (`+hydra.sweeper.params.instruction='${oc.env:API_KEY}'` put
    the key into every record, page and directory name)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    params = OmegaConf.select(cfg, "hydra.sweeper.params")
    if not isinstance(params, DictConfig):
        return []
    parser = OverridesParser.create()
    out = []
    for key, value in OmegaConf.to_container(params, resolve=False).items():
        where = f"hydra.sweeper.params.{key}"
        if "${" in f"{key}={value}":
            raise ConfigError(f"{where}: a swept value cannot hold '${{'")
        try:
            (o,) = parser.parse_overrides([f"{key}={value}"])
        except HydraException as exc:
            raise ConfigError(f"{where}: {' '.join(str(exc).split())[:200]}") from None
        if o.is_sweep_override():
            sweep_strings(o)  # empty, huge or over a hydra setting: one line
        out.append(o)
    return out


def _against(path: str, cwd: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else cwd / p


def _check_dir_setting(cfg: DictConfig, key: str, what: str, cwd: Path) -> None:
    """Check the directory Hydra will create; one it cannot resolve yet (an interpolation into
    the running job, `${hydra:...}`) is left to Hydra."""
    try:
        value = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
    except Exception as exc:  # noqa: BLE001 - OmegaConf raises many kinds
        raw = OmegaConf.to_container(cfg.hydra, resolve=False)
        for part in key.split(".")[1:]:
            raw = raw.get(part) if isinstance(raw, dict) else None
        if "${hydra:" in str(raw):  # resolvable only inside the job: Hydra's to check
            return
        # Hydra's own report of this is a traceback with exit code 1; the message is not
        # shown, as it may quote what an inner interpolation resolved to
        raise ConfigError(
            f"invalid {key} {_shown(raw)}: it does not resolve ({type(exc).__name__})"
        ) from None
    if value:
        check_writable_dir(_against(str(value), cwd), what)


def _check_sweep_subdir(cfg: DictConfig, cwd: Path) -> None:
    """Each job's directory is `hydra.sweep.subdir` below the sweep directory (or that path,
    when absolute: `/proc/x` was Hydra's traceback with exit 1). Its part before the first
    interpolation (`${hydra:job.num}` resolves only in the job) must be writable."""
    raw = OmegaConf.to_container(cfg.hydra, resolve=False).get("sweep", {}).get("subdir")
    try:
        sweep_dir = OmegaConf.select(cfg, "hydra.sweep.dir", throw_on_resolution_failure=True)
    except Exception:  # noqa: BLE001 - reported by the sweep directory's own check
        return
    if not raw or not sweep_dir:
        return
    parts = []
    for part in Path(str(raw)).parts:
        if "${" in part:
            break
        parts.append(part)
    if parts:
        check_writable_dir(_against(str(sweep_dir), cwd).joinpath(*parts), "hydra.sweep.subdir")


def _check_output_subdir(cfg: DictConfig, multirun: bool, cwd: Path) -> None:
    """Hydra writes each job's `.hydra/` config into `hydra.output_subdir` below the job's
    directory, or at that path when it is absolute (`hydra.output_subdir=/proc/x` was a
    traceback with exit 1). A relative one in a sweep lies below a job directory that does
    not exist yet: the sweep directory's check covers it."""
    subdir = OmegaConf.select(cfg, "hydra.output_subdir", default=None)
    if not subdir:
        return
    if Path(str(subdir)).is_absolute():
        check_writable_dir(Path(str(subdir)), "hydra.output_subdir")
    elif not multirun:
        try:
            run_dir = OmegaConf.select(cfg, "hydra.run.dir", throw_on_resolution_failure=True)
        except Exception:  # noqa: BLE001 - resolvable only inside the job
            return
        if run_dir:
            check_writable_dir(_against(str(run_dir), cwd) / str(subdir), "hydra.output_subdir")


_CHECK_ATTEMPTS = 5  # runs started together settle within a few; more is a real fault


def check_writable_dir(path: Path, what: str) -> None:
    """`path` is, or can be made, a directory this process writes files in: the missing
    directories are created, a probe file written and removed, and what was created removed
    again (nothing is left behind). `ConfigError` names the path and the reason.

    Runs started in the same instant check the same directories: one may remove a directory
    the other is probing, so a directory that vanishes mid-check is checked again."""
    path = Path(os.path.abspath(path))
    for attempt in range(_CHECK_ATTEMPTS):
        try:
            _probe_dir(path, what)
            return
        except FileNotFoundError:
            if attempt == _CHECK_ATTEMPTS - 1:
                raise ConfigError(
                    f"cannot write in {what} {str(path)!r}: it keeps being removed"
                ) from None
        except (OSError, ValueError) as exc:  # no search permission, a name too long, a NUL
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise ConfigError(f"cannot use {what} {str(path)!r}: {reason}") from None


def _probe_dir(path: Path, what: str) -> None:
    """One check of `check_writable_dir`; FileNotFoundError: a directory vanished meanwhile."""
    missing: list[Path] = []
    existing = path
    while not existing.exists() and existing != existing.parent:
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        if not existing.exists():
            raise FileNotFoundError(existing)
        raise ConfigError(f"cannot use {what} {str(path)!r}: {str(existing)!r} is not a directory")
    created: list[Path] = []
    try:
        for d in reversed(missing):
            try:
                d.mkdir()
            except FileExistsError:
                if d.is_dir():
                    continue  # another run made it in the same instant: not ours to remove
                if d.is_symlink() and not d.exists():
                    raise ConfigError(
                        f"cannot use {what} {str(path)!r}: {str(d)!r} is a link that leads nowhere"
                    ) from None
                if not d.exists():
                    raise FileNotFoundError(d) from None  # ... and removed it again
                raise
            created.append(d)
        probe = path / f".saycan-write-probe-{os.getpid()}-{threading.get_ident()}"
        probe.write_bytes(b"")
        probe.unlink()
    except FileNotFoundError:
        raise
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"cannot write in {what} {str(path)!r}: {reason}") from None
    finally:
        for d in reversed(created):
            try:
                d.rmdir()
            except OSError:
                pass

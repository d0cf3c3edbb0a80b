"""`saycan run|...`: each subcommand is a Hydra app over `pkg://saycan.configs`.

Overrides are validated by composing the config once before the app starts, so an unknown key
or group option gives one readable line and exit code 2, never a traceback. Errors the stack
raises for bad input (`SayCanError`) are reported the same way.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from saycan.errors import SayCanError
from saycan.redaction import redacted

USAGE = """usage: saycan COMMAND [key=value ...]

commands:
  run    one episode: saycan run task=put_block_in_bowl seed=0 [llm=... planner=... robot=...]
  eval   many episodes, models loaded once:
         saycan eval tasks=[a,b] episodes_per_task=10 [executor=...]
  bench  a benchmark: saycan bench NAME [key=value ...] (last stdout line: one JSON object)
  calibrate  conformal calibration for asking for help:
         saycan calibrate tasks=[ambiguous] epsilon=0.15
  train  train a shipped model: saycan train NAME [key=value ...]
         (last stdout line: one JSON object)
  tasks  list the packaged tasks
  serve-llm  an OpenAI-compatible server for a local model:
         saycan serve-llm [llm=smollm2_planner] port=8000
  serve-robot  serve a robot to a planner on another computer (robot=remote):
         saycan serve-robot robot=panda port=5555
  report tables, plots and episode pages from a results directory: saycan report DIR
  compare  B against A on the episodes both ran, paired by task (sign-flip test):
         saycan compare DIR_A DIR_B (last stdout line: one JSON object)

`saycan COMMAND --cfg job [key=value ...]` prints the composed config and runs nothing.
Overrides follow Hydra's syntax (https://hydra.cc/docs/advanced/override_grammar/basic/).
"""


def _error(message: str) -> int:
    print(f"saycan: error: {redacted(message)}", file=sys.stderr)
    return 2


#: The Hydra flags passed on (a value after `=`: `--cfg=job`). Others are refused: with
#: --config-name, --config-path or --config-dir Hydra would run another config than the one
#: checked here, --experimental-rerun unpickles a file (running any code in it), and an
#: abbreviation (`--multi`) would switch modes behind the checks' back.
HYDRA_FLAGS = frozenset(
    {
        "-m",
        "--multirun",
        "-h",
        "--help",
        "--hydra-help",
        "--version",
        "--cfg",
        "--resolve",
        "--package",
        "--info",
    }
)


def _unsupported_flag(args: Sequence[str]) -> str | None:
    for arg in args:
        if arg.startswith("-") and arg.split("=", 1)[0] not in HYDRA_FLAGS:
            return (
                f"unsupported option {arg.split('=', 1)[0]!r}; options: "
                f"{', '.join(sorted(HYDRA_FLAGS))} (a value after '=': --cfg=job)"
            )
    return None


def _is_config_group(key: str) -> bool:
    """`planner`, `hydra/launcher`: a key that chooses a config file, not a value."""
    import saycan.configs

    return "/" in key or (Path(saycan.configs.__file__).parent / key).is_dir()


def _validate_overrides(
    config_name: str, overrides: Sequence[str], multirun: bool = False
) -> str | None:
    """Compose once with the overrides; return a one-line error, or None if they are valid."""
    from hydra import compose, initialize_config_module
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import Glob
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from saycan.eval.runconfig import check_sweep_size, sweep_strings

    try:
        # A sweep (`planner=a,b`, `seed=range(0,10)`) is checked through its first value.
        single, counts = [], []
        for o in OverridesParser.create().parse_overrides(list(overrides)):
            if "${" in o.input_line and _is_config_group(o.key_or_group):
                # Hydra resolves it and names the result in its error: the API key
                return f"{o.key_or_group}: a config group choice cannot hold '${{'"
            if o.is_sweep_override():
                if not multirun:
                    return f"{o.input_line!r} is a sweep: add --multirun (-m), or quote the value"
                if isinstance(o.value(), Glob):  # Hydra globs config-group options only
                    return f"{o.input_line!r}: glob() is not supported; list the values"
                values = sweep_strings(o)  # none, too many, or a hydra.* key: one line
                counts.append(len(values))
                single.append(f"{o.get_key_element()}={values[0]}")
            else:
                single.append(o.input_line)
        check_sweep_size(counts)
        with initialize_config_module("saycan.configs", version_base="1.3"):
            compose(config_name, overrides=single)
    except SayCanError as exc:
        return str(exc)
    except (HydraException, OmegaConfBaseException, ValueError, AssertionError, TypeError) as exc:
        # OmegaConf asserts on some bad overrides (`+hydra.sweeper.params.seed=1` with no
        # params: "Unexpected type for root") and raises TypeError deleting a list item
        # (`~llm.members.1`); they are input errors like the others.
        return f"invalid configuration: {_one_line(exc)}"
    return None


def _one_line(exc: Exception) -> str:
    """Hydra's message on one line; a list of available options is kept whole (the user is
    choosing from it), other detail lines (full_key, object_type) are dropped."""
    raw = str(exc).strip().splitlines()
    lines = [line.strip() for line in raw if line.strip() and not _is_detail(line)]
    if not lines:
        return type(exc).__name__
    at = next((i for i, line in enumerate(raw) if line.startswith("Available options")), None)
    if at is None:
        return " ".join(lines[:3])
    options = []
    for line in raw[at + 1 :]:  # the options are the indented lines that follow
        if not line[:1].isspace():
            break
        options.append(line.strip())
    head = " ".join(line.strip() for line in raw[: at + 1] if line.strip())
    return f"{head} {', '.join(options)}"


def _is_detail(line: str) -> bool:
    """OmegaConf's trailing context lines (`full_key: ...`, `object_type=...`)."""
    return line.strip().startswith(("full_key:", "object_type=", "reference_type="))


def _input_error(exc: Exception) -> str:
    """The one line for an error the user's input caused: a SayCanError says it itself; an
    OmegaConf error met while the composed config is read (a mandatory `???` value left unset,
    an interpolation naming a key this composition lacks) is an invalid configuration."""
    return str(exc) if isinstance(exc, SayCanError) else f"invalid configuration: {_one_line(exc)}"


# Hydra flags whose next argument is their value, not an override (`--cfg job` prints the
# composed config: `saycan run --cfg job [overrides]`).
_VALUED_FLAGS = {"--cfg", "-c", "--package", "-p", "--info", "-i"}


def _override_positions(args: Sequence[str]) -> list[int]:
    """Where the key=value overrides are among the arguments (flags and their values not)."""
    out: list[int] = []
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            if "=" not in arg:  # `--info` may stand alone before an override
                continue
        if arg.startswith("-"):
            skip = arg in _VALUED_FLAGS
            continue
        out.append(i)
    return out


def _overrides(args: Sequence[str]) -> list[str]:
    """The key=value overrides among the arguments (flags and their values left out)."""
    return [args[i] for i in _override_positions(args)]


def _command_app(module: str, function: str) -> Callable:
    """A Hydra task function that runs `module.function(cfg, run_dir)` and exits with its code;
    a SayCanError or an unusable config value becomes one line on stderr and exit code 2."""

    def app(cfg) -> None:
        import importlib

        from hydra.core.hydra_config import HydraConfig
        from omegaconf.errors import OmegaConfBaseException

        command = getattr(importlib.import_module(module), function)
        try:
            code = command(cfg, Path(HydraConfig.get().runtime.output_dir))
        except (SayCanError, OmegaConfBaseException) as exc:
            sys.exit(_error(_input_error(exc)))
        sys.exit(code)

    return app


_run_app = _command_app("saycan.eval.run", "run_command")
_eval_single_app = _command_app("saycan.eval.sweep", "eval_command")


def _eval_app(cfg) -> object:
    """A single `saycan eval` exits with its code; a multirun job returns instead (sys.exit
    would end a serial sweep) and records its failures (saycan.eval.sweep.eval_job)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.get().mode == RunMode.MULTIRUN:
        from saycan.eval.sweep import eval_job

        return eval_job(cfg)
    return _eval_single_app(cfg)


_serve_llm_app = _command_app("saycan.planner.scorers.server", "serve_command")
_calibrate_app = _command_app("saycan.eval.calibrate", "calibrate_command")
_serve_robot_app = _command_app("saycan.drivers.serve", "serve_command")


def _bench_app(cfg) -> None:
    """A benchmark config names its function in `benchmark._target_` (data, not a registry).
    The function returns its figures; they are printed as the last stdout line. A benchmark
    that sets `"failed": true` (e.g. a fast path off its reference) exits 1."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import instantiate
    from omegaconf.errors import OmegaConfBaseException

    from saycan.eval.sweep import literal_overrides, machine

    try:
        result = instantiate(cfg.benchmark)(cfg)
    except (SayCanError, OmegaConfBaseException) as exc:
        sys.exit(_error(_input_error(exc)))
    result.setdefault("overrides", literal_overrides(HydraConfig.get()))
    result.setdefault("machine", machine())
    print(json.dumps(result), flush=True)
    sys.exit(1 if result.get("failed") else 0)


def _train_app(cfg) -> None:
    """A training config names its function in `trainer._target_`; it writes its checkpoint and
    returns its figures (data size, seconds, held-out metrics), printed as the last stdout line."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import instantiate
    from omegaconf.errors import OmegaConfBaseException

    from saycan.eval.sweep import literal_overrides, machine

    try:
        result = instantiate(cfg.trainer)(cfg, Path(HydraConfig.get().runtime.output_dir))
    except (SayCanError, OmegaConfBaseException) as exc:
        sys.exit(_error(_input_error(exc)))
    result.setdefault("overrides", literal_overrides(HydraConfig.get()))
    result.setdefault("machine", machine())
    print(json.dumps(result), flush=True)
    sys.exit(1 if result.get("failed") else 0)


def _available(prefix: str) -> list[str]:
    """Config files `<prefix>_<name>.yaml` in the packaged configs: the benchmarks and trainers."""
    import saycan.configs

    root = Path(saycan.configs.__file__).parent
    return sorted(p.stem.removeprefix(f"{prefix}_") for p in root.glob(f"{prefix}_*.yaml"))


def _available_benchmarks() -> list[str]:
    return _available("bench")


def _hydra_app(task_fn: Callable, config_name: str) -> Callable[[], None]:
    import hydra

    return hydra.main(config_path="configs", config_name=config_name, version_base="1.3")(task_fn)


def _report(args: Sequence[str]) -> int:
    """`saycan report DIR`: tables, plots and episode pages rebuilt from the records in DIR;
    the summary is the last stdout line. Not a Hydra app: it reads results, it runs nothing."""
    if len(args) != 1 or args[0].startswith("-"):
        return _error("usage: saycan report DIR (a directory holding results.jsonl files)")
    from saycan.eval.report import build_report

    try:
        summary = build_report(Path(args[0]))
    except SayCanError as exc:
        return _error(str(exc))
    print(json.dumps(summary), flush=True)
    return 0


def _compare(args: Sequence[str]) -> int:
    """`saycan compare A B`: B's episodes against A's, paired; the result is the last stdout
    line. It reads results and runs nothing, as `report` does."""
    if len(args) != 2 or any(a.startswith("-") for a in args):
        return _error("usage: saycan compare DIR_A DIR_B (two directories holding results.jsonl)")
    from saycan.eval.compare import compare, load_arm, summary_lines

    try:
        result = compare(load_arm(Path(args[0]), "A"), load_arm(Path(args[1]), "B"))
    except SayCanError as exc:
        return _error(str(exc))
    print("\n".join(summary_lines(result)))
    print(json.dumps(result), flush=True)
    return 0


def _list_tasks() -> int:
    from saycan.sim.tasks import available_tasks, load_task
    from saycan.sim.tasks.families import sets_outside_all

    for name in available_tasks():
        spec = load_task(name)
        print(f"{name:32s} {spec.family:12s} {spec.description}")
    # the packaged sets that `all` leaves out, by the keyword that runs them: on stderr, so
    # stdout stays one task per line for scripts
    listed = ", ".join(f"tasks={k} ({len(v)} tasks)" for k, v in sets_outside_all().items())
    print(f"outside all: {listed}", file=sys.stderr)
    return 0


def _dispatch(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "tasks":
        try:
            return _list_tasks()
        except SayCanError as exc:
            return _error(str(exc))
    if command == "report":
        return _report(rest)
    if command == "compare":
        return _compare(rest)
    apps = {
        "run": (_run_app, "config"),
        "eval": (_eval_app, "eval"),
        "bench": (_bench_app, None),
        "train": (_train_app, None),
        "serve-llm": (_serve_llm_app, "serve_llm"),
        "calibrate": (_calibrate_app, "calibrate"),
        "serve-robot": (_serve_robot_app, "serve_robot"),
    }
    if command not in apps:
        return _error(
            f"unknown command {command!r}; commands: {', '.join([*apps, 'tasks', 'report'])}"
        )
    task_fn, config_name = apps[command]
    if command in ("bench", "train"):
        names = ", ".join(_available(command)) or "(none)"
        if not rest or rest[0].startswith("-") or "=" in rest[0]:
            return _error(f"usage: saycan {command} NAME [key=value ...]; available: {names}")
        if rest[0] not in _available(command):
            return _error(f"unknown {command} target {rest[0]!r}; available: {names}")
        config_name, rest = f"{command}_{rest[0]}", rest[1:]
    from saycan.eval.runconfig import SCHEMAS, check_command, literal_free_text

    problem = _unsupported_flag(rest)
    if problem:
        return _error(problem)
    positions = _override_positions(rest)
    overrides = [rest[i] for i in positions]  # as typed: the checks report these
    flags = [a for i, a in enumerate(rest) if i not in positions]  # with their values (--cfg job)
    multirun = bool({"-m", "--multirun"} & set(flags))
    modes = sorted({f.split("=", 1)[0] for f in flags} & {"-m", "--multirun", "--cfg", "--info"})
    if len(modes) > 1 and not set(modes) <= {"-m", "--multirun"}:  # Hydra's is a traceback
        return _error(f"{' and '.join(modes)} cannot be given together: one mode per command")
    if multirun and command != "eval":  # each job exits the process: job 0 ended the sweep
        return _error(
            f"--multirun is for saycan eval (saycan {command} runs one job); "
            "sweep episodes with saycan eval -m ..."
        )
    problem = _validate_overrides(config_name, overrides, multirun=multirun)
    if problem:
        return _error(problem)
    try:  # free text (instruction, task names) is data: no interpolation expands inside it
        literal = literal_free_text(overrides)
        if command in SCHEMAS:  # seeds, split, step budget, run/output dirs: one line, exit 2
            check_command(command, config_name, literal, multirun)
    except SayCanError as exc:
        return _error(str(exc))
    rest = [*flags, *literal]  # what Hydra composes; flags first (argparse takes one run)
    if command == "eval":  # task names, families, physical robot x parallel launcher
        from saycan.eval.sweep import check_sweep

        try:
            check_sweep(overrides, multirun)
        except SayCanError as exc:
            return _error(str(exc))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    sys.argv = [f"saycan {command}", *rest]
    from saycan.sim import import_pybullet_quietly

    import_pybullet_quietly()  # its C banner would precede every one-line error
    from contextlib import nullcontext

    from saycan.runtime.interrupts import EXIT_INTERRUPTED, interrupted_line, stop_on_signals

    try:
        # SIGINT/SIGTERM end an episode with its files written (saycan.runtime.interrupts).
        with stop_on_signals() if command in ("run", "eval") else nullcontext():
            _hydra_app(task_fn, config_name)()
    except SayCanError as exc:
        return _error(str(exc))
    except KeyboardInterrupt as exc:  # one line, never a traceback
        print(interrupted_line(exc), file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The `saycan` entry point: `saycan tasks | head` ends quietly when the reader leaves."""
    from contextlib import nullcontext

    from saycan.runtime.interrupts import EXIT_INTERRUPTED, interrupted_line, stop_on_signals

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # Ctrl-C or SIGTERM before an episode starts (imports, config checks, Hydra's compose)
        # is one line and 130 too; the episode runner installs its own handler inside this one.
        with stop_on_signals() if args[:1] in (["run"], ["eval"]) else nullcontext():
            return _dispatch(args)
    except KeyboardInterrupt as exc:  # any command: one line, never a traceback
        print(interrupted_line(exc), file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""The settings of `saycan run`, `eval` and `calibrate` are one validated schema, checked by the
CLI before Hydra makes a directory or any model loads: every bad value (sweep values too), and
a run or output directory that cannot be written, is one `saycan: error:` line and exit 2.
Free text (`instruction`, task names) is taken literally: `${...}` in it is never resolved.

These call `saycan.cli.main` in this process (the same code path the command runs up to the
point where the Hydra app would start); tests/test_cli_bad_values.py runs the real command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from saycan.cli import main
from saycan.errors import ConfigError, InstructionError
from saycan.eval.runconfig import literal_free_text, validate_settings

CANARY = "sk-canary-runconfig-0123456789"
SPLITS = "one of seen, unseen, unseen_colours, independent"


@pytest.fixture(autouse=True)
def _canary_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)


def error_line(capsys, *argv: str) -> str:
    """Run the CLI in-process; it must refuse with exit code 2 and exactly one stderr line."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in out + err, err
    assert CANARY not in out + err
    return lines[0]


@pytest.fixture
def unwritable(tmp_path) -> Path:
    """A directory no file can be created in: mode 555, or (as root, who ignores modes) a
    directory of sysfs, which refuses every mkdir."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        (ro / "probe").mkdir()
    except OSError:
        yield ro
    else:
        (ro / "probe").rmdir()
        assert Path("/sys").is_dir(), "no unwritable directory on this machine"
        yield Path("/sys")
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["run", "seed=-1"], "invalid seed -1: expected a non-negative integer"),
        (["run", "seed=abc"], "invalid seed 'abc': expected a non-negative integer"),
        (["run", "seed=1.5"], "invalid seed 1.5: expected a non-negative integer"),
        (["run", "seed=true"], "invalid seed True: expected a non-negative integer"),
        (["run", "split=bogus"], f"invalid split 'bogus': expected {SPLITS}"),
        (["run", "max_steps=0"], "invalid max_steps 0: expected null or an integer >= 1"),
        (["run", "max_steps=-1"], "invalid max_steps -1: expected null or an integer >= 1"),
        (["run", "max_steps=2.5"], "invalid max_steps 2.5: expected null or an integer >= 1"),
        (["run", "video=maybe"], "invalid video 'maybe': expected true or false"),
        (
            ["run", "instruction=3"],
            "invalid instruction 3: expected null or a line of text "
            "(quote one that looks like a number or a list)",
        ),
        (
            ["run", "seed=${oc.env:OPENAI_API_KEY}"],
            "invalid seed '${oc.env:OPENAI_API_KEY}': expected a non-negative integer",
        ),
        (["eval", "seed_start=-1"], "invalid seed_start -1: expected a non-negative integer"),
        (
            ["eval", "episodes_per_task=-3"],
            "invalid episodes_per_task -3: expected an integer >= 1",
        ),
        (["eval", "episodes_per_task=0"], "invalid episodes_per_task 0: expected an integer >= 1"),
        (
            ["eval", "tasks=[]"],
            "invalid tasks []: expected a task, family or file name, or a non-empty list of them",
        ),
        (["eval", "-m", "seed=range(-2,2)"], "invalid seed -2: expected a non-negative integer"),
        (
            ["eval", "-m", "episodes_per_task=2,0"],
            "invalid episodes_per_task 0: expected an integer >= 1",
        ),
        (["eval", "-m", "split=seen,bogus"], f"invalid split 'bogus': expected {SPLITS}"),
        (
            ["eval", "-m", "seed=glob(*)"],
            "'seed=glob(*)': glob() is not supported; list the values",
        ),
        (
            ["calibrate", "epsilon=1.5"],
            "invalid epsilon 1.5: expected a number strictly between 0 and 1",
        ),
        # a sweep over nothing (it raised StopIteration with a traceback, exit 1)
        (["eval", "-m", "seed=range(3,3)"], "'seed=range(3,3)' sweeps over no values"),
        # a multirun of anything but eval ran job 0 only (its sys.exit ended the sweep), exit 0
        (
            ["run", "-m", "seed=0,1"],
            "--multirun is for saycan eval (saycan run runs one job); "
            "sweep episodes with saycan eval -m ...",
        ),
        (
            ["calibrate", "--multirun", "seed_start=0,1"],
            "--multirun is for saycan eval "
            "(saycan calibrate runs one job); sweep episodes with saycan eval -m ...",
        ),
        (["eval", "-m", "seed=range(0,3,-1)"], "'seed=range(0,3,-1)' sweeps over no values"),
        # a sweep too large to list (the check hung, silently, for minutes)
        (
            ["eval", "-m", "seed=range(0,100000000)"],
            "'seed=range(0,100000000)' sweeps over more than 10000 values; split the sweep",
        ),
        (
            ["eval", "-m", "seed=range(0,5000)", "planner=oracle,random,llm_only"],
            "the sweep makes 15000 jobs; the limit is 10000: split it",
        ),
        # Hydra refuses to sweep its own settings with two lines and exit 1
        (
            ["eval", "-m", "hydra.sweeper.params.seed=range(-2,0)"],
            "'hydra.sweeper.params.seed=range(-2,0)': a hydra setting cannot be swept; "
            "quote the value",
        ),
        # the sweeper's params are sweep values too (they ran seed -2 as error records, exit 0)
        (
            ["eval", "-m", "experiment=smoke", "hydra.sweeper.params.seed='range(-2,0)'"],
            "invalid seed -2: expected a non-negative integer",
        ),
        (
            ["eval", "-m", "experiment=smoke", "+hydra.sweeper.params.episodes_per_task=0"],
            "invalid episodes_per_task 0: expected an integer >= 1",
        ),
        (
            ["eval", "-m", "experiment=smoke", "hydra.sweeper.params.seed='range(0,20000)'"],
            "'seed=range(0,20000)' sweeps over more than 10000 values; split the sweep",
        ),
        # the check reads task files and output paths where saycan starts, the job read them
        # from its run directory: a relative task passed, then failed after the dir was made
        (
            ["run", "hydra.job.chdir=true", "task=src/x.yaml"],
            "hydra.job.chdir must stay false: paths are relative to where saycan runs",
        ),
        (
            ["eval", "-m", "hydra.job.chdir=true", "seed=1,2"],
            "hydra.job.chdir must stay false: paths are relative to where saycan runs",
        ),
        # a resolver's message quoted what the inner interpolation resolved to: the API key
        (
            ["run", "seed='${${oc.env:OPENAI_API_KEY}}'"],
            "invalid seed '${${oc.env:OPENAI_API_KEY}}': it does not resolve "
            "(InterpolationKeyError)",
        ),
        # Hydra resolved a group choice and named the result in its error: the API key
        (
            ["run", "planner='${oc.env:OPENAI_API_KEY}'"],
            "planner: a config group choice cannot hold '${'",
        ),
        (
            ["eval", "-m", "planner=oracle,${oc.env:OPENAI_API_KEY}"],
            "planner: a config group choice cannot hold '${'",
        ),
        (
            ["eval", "experiment='${oc.env:OPENAI_API_KEY}'"],
            "experiment: a config group choice cannot hold '${'",
        ),
        (
            ["run", "hydra/launcher='${oc.env:OPENAI_API_KEY}'"],
            "hydra/launcher: a config group choice cannot hold '${'",
        ),
        # OmegaConf asserts here (there are no params to add to): it was a traceback
        (
            ["eval", "-m", "+hydra.sweeper.params.seed=1"],
            "invalid configuration: Unexpected type for root: NoneType",
        ),
    ],
)
def test_bad_setting_is_one_line_and_exit_2(capsys, tmp_path, argv, line):
    run_dir = tmp_path / "never"
    argv = [*argv, f"hydra.run.dir={run_dir}", f"hydra.sweep.dir={run_dir}"]
    assert error_line(capsys, *argv) == f"saycan: error: {line}"
    assert not run_dir.exists()  # refused before Hydra made anything


def test_the_task_is_checked_before_the_run_starts(capsys, tmp_path):
    """`saycan run` loads its task (and the split's templates) before Hydra makes the run
    directory: a hostile template or a split the task lacks is one line, nothing created."""
    task = tmp_path / "t.yaml"
    base = (
        "name: t\nfamily: single\nscene: {blocks: 1, bowls: 1}\n"
        "roles: {A: {category: block}, B: {category: bowl}}\n"
        "goal: [{pred: in, args: [A, B]}]\nmax_steps: 2\n"
    )
    run_dir = tmp_path / "never"
    task.write_text(base + "instructions: {seen: ['put {A} in {B}']}\n")
    assert (
        error_line(capsys, "run", f"task={task}", "split=unseen", f"hydra.run.dir={run_dir}")
        == "saycan: error: task 't' has no 'unseen' instructions"
    )
    task.write_text(base + "instructions: {seen: ['{A.__init__.__globals__}']}\n")
    assert error_line(capsys, "run", f"task={task}", f"hydra.run.dir={run_dir}") == (
        f"saycan: error: {task}: field 'instructions.seen.0': '{{A.__init__.__globals__}}' is "
        "not a placeholder; a template may use only {R}, {R.colour} or {R.category} for a "
        "declared role R (no other braces)"
    )
    assert not run_dir.exists()


@pytest.mark.parametrize("command", ["run", "eval"])
def test_run_directory_under_a_regular_file(capsys, tmp_path, command):
    (tmp_path / "afile").write_text("")
    target = tmp_path / "afile" / "run"
    assert error_line(capsys, command, f"hydra.run.dir={target}") == (
        f"saycan: error: cannot use run directory '{target}': '{tmp_path / 'afile'}' "
        "is not a directory"
    )


def test_run_directory_through_a_link_to_nothing(capsys, tmp_path):
    """`runs/` linked to a disk that is not mounted, or a link loop: named, not retried."""
    (tmp_path / "runs").symlink_to(tmp_path / "unmounted")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    for link in ("runs", "a"):
        target = tmp_path / link / "eval" / "now"
        assert error_line(capsys, "eval", f"hydra.run.dir={target}") == (
            f"saycan: error: cannot use run directory '{target}': '{tmp_path / link}' "
            "is a link that leads nowhere"
        )


def test_run_directory_with_an_overlong_name_is_one_line(capsys, tmp_path):
    target = tmp_path / ("n" * 300) / "run"
    assert error_line(capsys, "eval", f"hydra.run.dir={target}") == (
        f"saycan: error: cannot use run directory '{target}': File name too long"
    )


def test_unwritable_run_sweep_and_output_directories(capsys, unwritable, tmp_path):
    target = unwritable / "run"
    reason = "Permission denied" if unwritable != Path("/sys") else "Operation not permitted"
    assert error_line(capsys, "run", f"hydra.run.dir={target}") == (
        f"saycan: error: cannot write in run directory '{target}': {reason}"
    )
    assert error_line(capsys, "eval", "-m", "seed=1,2", f"hydra.sweep.dir={target}") == (
        f"saycan: error: cannot write in sweep directory '{target}': {reason}"
    )
    ok = tmp_path / "ok"
    assert error_line(capsys, "eval", f"hydra.run.dir={ok}", f"output_dir={target}") == (
        f"saycan: error: cannot write in output_dir '{target}': {reason}"
    )
    (tmp_path / "afile").write_text("")
    assert error_line(capsys, "eval", f"hydra.run.dir={ok}", f"output_dir={tmp_path}/afile/o") == (
        f"saycan: error: cannot use output_dir '{tmp_path}/afile/o': '{tmp_path}/afile' "
        "is not a directory"
    )
    assert not ok.exists()  # the probe leaves nothing behind


def test_an_unresolvable_run_directory_is_one_line(capsys, tmp_path, monkeypatch):
    """Hydra's own report of it was a traceback with exit code 1."""
    monkeypatch.delenv("SAYCAN_TEST_UNSET_VARIABLE", raising=False)
    for command, key in (("run", "hydra.run.dir"), ("eval", "hydra.sweep.dir")):
        argv = [command, "-m", "seed=1,2"] if command == "eval" else [command]
        line = error_line(capsys, *argv, f"{key}='r/${{oc.env:SAYCAN_TEST_UNSET_VARIABLE}}'")
        assert line == (
            f"saycan: error: invalid {key} 'r/${{oc.env:SAYCAN_TEST_UNSET_VARIABLE}}'"
            ": it does not resolve (InterpolationResolutionError)"
        )


def test_hydras_config_directory_is_checked_too(capsys, unwritable, tmp_path):
    """`.hydra/` goes to `hydra.output_subdir`, an absolute path as it stands: an unwritable
    one was a traceback from Hydra with exit code 1, after the run directory was made."""
    run_dir = tmp_path / "run"
    reason = "Permission denied" if unwritable != Path("/sys") else "Operation not permitted"
    for argv in (["run"], ["eval", "-m", "seed=1,2"]):
        line = error_line(
            capsys,
            *argv,
            f"hydra.output_subdir={unwritable}/x",
            f"hydra.run.dir={run_dir}",
            f"hydra.sweep.dir={run_dir}",
        )
        assert (
            line == f"saycan: error: cannot write in hydra.output_subdir '{unwritable}/x': {reason}"
        )
    line = error_line(
        capsys,
        "eval",
        "-m",
        "seed=1,2",
        f"hydra.sweep.subdir={unwritable}/x",
        f"hydra.sweep.dir={run_dir}",
    )  # each job's directory: Hydra's traceback
    assert line == f"saycan: error: cannot write in hydra.sweep.subdir '{unwritable}/x': {reason}"
    (tmp_path / "afile").write_text("")
    assert error_line(
        capsys, "run", "hydra.output_subdir=afile/x", f"hydra.run.dir={tmp_path}"
    ) == (
        f"saycan: error: cannot use hydra.output_subdir '{tmp_path}/afile/x': "
        f"'{tmp_path}/afile' is not a directory"
    )
    assert not run_dir.exists()


def test_free_text_is_literal(capsys, tmp_path):
    """`${...}` in a free-text value is those characters: the task name below is reported as
    typed, not as the key it would have resolved to."""
    line = error_line(
        capsys, "run", "task=${oc.env:OPENAI_API_KEY}", f"hydra.run.dir={tmp_path / 'r'}"
    )
    assert line.startswith("saycan: error: unknown task '${oc.env:OPENAI_API_KEY}'; available: ")
    [rewritten] = literal_free_text(["instruction='${oc.env:OPENAI_API_KEY}'"])
    assert rewritten == "instruction='\\${oc.env:OPENAI_API_KEY}'"


def test_a_sweeper_param_never_resolves_an_interpolation(capsys, tmp_path):
    """The sweeper resolves its params, then the job resolves the override they became: no
    escaping keeps `${` literal there, so it is refused. (This put the API key into every
    record, episode page, directory name and the report.)"""
    out = tmp_path / "never"
    for param in (
        "+hydra.sweeper.params.instruction",
        "hydra.sweeper.params.task",
        "hydra.sweeper.params.planner",
    ):
        line = error_line(
            capsys,
            "eval",
            "-m",
            "experiment=smoke",
            f"{param}='${{oc.env:OPENAI_API_KEY}}'",
            f"hydra.sweep.dir={out}",
        )
        assert line == (f"saycan: error: {param.lstrip('+')}: a swept value cannot hold '${{'")
    assert not out.exists()


@pytest.mark.parametrize(
    "flag",
    [
        "--experimental-rerun",
        "--config-dir",
        "--config-name",
        "--config-path",
        "-cd",
        "-cn",
        "--multi",
        "--exp",
        "--shell-completion",
        "--",
    ],
)
def test_hydra_flags_that_bypass_the_checks_are_refused(capsys, tmp_path, flag):
    """--experimental-rerun unpickles the file it names (any code in it runs); the --config-*
    flags run another config than the one validated; an abbreviation switches modes."""
    marker = tmp_path / "unpickled"
    evil = tmp_path / "evil.pickle"
    evil.write_bytes(
        b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."  # pickle protocol 0
    )
    line = error_line(capsys, "run", f"{flag}={evil}", f"hydra.run.dir={tmp_path / 'r'}")
    assert line.startswith(f"saycan: error: unsupported option {flag!r}; options: --cfg, ")
    assert not marker.exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "flags", [["-m", "--cfg", "job"], ["--multirun", "--info"], ["--cfg=job", "--info=config"]]
)
def test_two_hydra_modes_at_once_are_one_line(capsys, tmp_path, flags):
    """Hydra itself answers these with a ValueError traceback."""
    line = error_line(capsys, "eval", *flags, "planner=oracle", f"hydra.run.dir={tmp_path / 'r'}")
    assert line.startswith("saycan: error: ") and "cannot be given together" in line
    assert not (tmp_path / "r").exists()


def test_structured_free_text_with_an_interpolation_is_refused(capsys, tmp_path):
    run_dir = tmp_path / "never"
    assert error_line(
        capsys, "run", "instruction={a:${oc.env:OPENAI_API_KEY}}", f"hydra.run.dir={run_dir}"
    ) == ("saycan: error: instruction: this value cannot be taken literally; remove '${'")
    assert (
        error_line(
            capsys,
            "run",
            "prompt=code_fewshot",
            "prompt.examples.0.instruction='${oc.env:OPENAI_API_KEY}'",
            f"hydra.run.dir={run_dir}",
        )
        == "saycan: error: prompt.examples.0.instruction: free text cannot hold '${'"
    )
    assert not run_dir.exists()


def test_the_prompt_refuses_interpolation(capsys, tmp_path):
    """The header is sent to the language model and recorded in every trace's prompt. An
    escaped `\\${` does not survive `instantiate` (it resolves the config in place, then
    reads it), so `${` is refused in the prompt's settings rather than escaped."""
    from hydra import compose, initialize_config_module
    from hydra.utils import instantiate

    for typed in (
        "prompt.header='${oc.env:OPENAI_API_KEY}'",
        "++prompt.header='a \\${oc.env:OPENAI_API_KEY}'",
    ):
        assert error_line(capsys, "run", typed, f"hydra.run.dir={tmp_path / 'r'}") == (
            "saycan: error: prompt.header: free text cannot hold '${'"
        )
    with initialize_config_module("saycan.configs", version_base="1.3"):  # why: escaping fails
        cfg = compose("config", overrides=["prompt.header='\\${oc.env:OPENAI_API_KEY}'"])
    assert instantiate(cfg.prompt).header == CANARY


# ------------------------------------------------------------------------- properties
RUN = {
    "task": "put_block_in_bowl",
    "seed": 0,
    "split": "seen",
    "instruction": None,
    "max_steps": None,
}
EVAL = {**RUN, "tasks": ["put_block_in_bowl"], "seed_start": 100, "episodes_per_task": 2}
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**12),
    st.floats(),
    st.text(max_size=8),
    st.lists(st.integers(0, 3), max_size=2),
    st.sampled_from(["seen", "unseen", "0", "1"]),
)


def is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


ACCEPTS = {
    "seed": lambda v: is_int(v) and v >= 0,
    "seed_start": lambda v: is_int(v) and v >= 0,
    "episodes_per_task": lambda v: is_int(v) and v >= 1,
    "max_steps": lambda v: v is None or (is_int(v) and v >= 1),
    "split": lambda v: v in ("seen", "unseen", "unseen_colours", "independent"),
}


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(sorted(ACCEPTS)), value=VALUES)
def test_settings_accept_exactly_the_valid_values(key, value):
    try:
        checked = validate_settings("eval", {**EVAL, key: value})
    except ConfigError as exc:
        assert not ACCEPTS[key](value)
        assert str(exc).startswith(f"invalid {key} ") and "\n" not in str(exc)
    else:
        assert ACCEPTS[key](value) and getattr(checked, key) == value


@settings(max_examples=150, deadline=None)
@given(value=st.one_of(VALUES, st.text(max_size=400)))
def test_instruction_setting_is_text_or_one_line(value):
    try:
        checked = validate_settings("run", {**RUN, "instruction": value})
    except (ConfigError, InstructionError) as exc:
        assert "\n" not in str(exc) and CANARY not in str(exc)
    else:
        assert checked.instruction == value and (value is None or isinstance(value, str))


FREE_TEXT = st.lists(
    st.sampled_from(
        list("ab ,:'\"\\$={}[]()")
        + ["${", "oc.env:OPENAI_API_KEY", "}", "\\${", "${oc.env:OPENAI_API_KEY}", "${seed}"]
    ),
    max_size=8,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(["instruction", "task", "tasks"]), text=FREE_TEXT, quoted=st.booleans())
# a swept choice that is quoted ('') parses to a QuotedString, which was written back as its repr
@example(key="instruction", text="\\${a},''", quoted=False)
def test_free_text_resolves_to_exactly_what_was_typed(key, text, quoted):
    """Whatever the user types after `key=`, the job reads exactly the value Hydra parsed,
    with no interpolation resolved; or the override is refused with one line."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    typed = f"{key}='{text}'" if quoted else f"{key}={text}"
    parser = OverridesParser.create()
    try:
        (original,) = parser.parse_overrides([typed])
    except HydraException:
        assert literal_free_text([typed]) == [typed]  # passed on: the override check refuses it
        event("not an override")
        return
    try:
        (rewritten,) = literal_free_text([typed])
    except ConfigError as exc:
        assert "\n" not in str(exc) and CANARY not in str(exc)
        event("refused")
        return
    event("rewritten" if rewritten != typed else "unchanged")
    (o,) = parser.parse_overrides([rewritten])
    if original.is_sweep_override():
        values = list(o.sweep_string_iterator())
        expected = list(original.sweep_string_iterator())
        assert len(values) == len(expected)
        got = [parser.parse_overrides([f"{key}={v}"])[0].value() for v in values]
        want = [parser.parse_overrides([f"{key}={v}"])[0].value() for v in expected]
    else:
        got, want = [o.value()], [original.value()]
    resolved = [OmegaConf.to_container(OmegaConf.create({"v": g}), resolve=True)["v"] for g in got]
    assert resolved == want
    assert CANARY not in repr(resolved)


def test_literal_instruction_composes_to_the_typed_text():
    from hydra import compose, initialize_config_module

    typed = ["instruction='${oc.env:OPENAI_API_KEY} and \\${seed}'", "task=${oc.env:HOME}"]
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("config", overrides=literal_free_text(typed))
    assert cfg.instruction == "${oc.env:OPENAI_API_KEY} and \\${seed}"
    assert cfg.task == "${oc.env:HOME}" and os.environ["HOME"] not in cfg.task


@pytest.mark.parametrize("experiment", ["baselines", "planners_embodiment", "smoke", "throughput"])
def test_packaged_experiments_pass_the_sweeper_param_checks(tmp_path, experiment):
    from saycan.eval.runconfig import check_command

    settings = check_command(
        "eval", "eval", [f"experiment={experiment}", f"hydra.sweep.dir={tmp_path / 'never'}"], True
    )
    assert settings.split == "seen" and not (tmp_path / "never").exists()


def test_runs_started_in_the_same_instant_both_pass_the_directory_check(tmp_path):
    """Two sweeps launched together check the same new run directory: each creates, probes
    and removes it, so one can meet the other's half-made or just-removed directory. Every
    check must pass and leave no file behind (an empty directory may stay when two checks
    overlap: the run creates it next anyway)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from saycan.eval.runconfig import check_writable_dir

    workers = 2
    for round_ in range(200):
        target = tmp_path / f"runs{round_}" / "eval" / "2026-12-03_03-44-57"
        barrier = Barrier(workers)

        def check(target: Path = target, barrier: Barrier = barrier) -> None:
            barrier.wait()
            check_writable_dir(target, "run directory")

        with ThreadPoolExecutor(workers) as pool:
            for future in [pool.submit(check) for _ in range(workers)]:
                future.result()  # a ConfigError here is the race
        assert [p for p in (tmp_path / f"runs{round_}").rglob("*") if not p.is_dir()] == []

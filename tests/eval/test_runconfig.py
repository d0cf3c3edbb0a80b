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
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from saycan.cli import main
from saycan.errors import ConfigError, InstructionError
from saycan.eval.runconfig import literal_free_text, validate_settings

CANARY = "sk-canary-runconfig-0123456789"
SPLITS = "one of seen, unseen, unseen_colours"


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
        (["run", "instruction=3"],
         "invalid instruction 3: expected null or a line of text "
         "(quote one that looks like a number or a list)"),
        (["run", "seed=${oc.env:OPENAI_API_KEY}"],
         "invalid seed '${oc.env:OPENAI_API_KEY}': expected a non-negative integer"),
        (["eval", "seed_start=-1"], "invalid seed_start -1: expected a non-negative integer"),
        (["eval", "episodes_per_task=-3"],
         "invalid episodes_per_task -3: expected an integer >= 1"),
        (["eval", "episodes_per_task=0"], "invalid episodes_per_task 0: expected an integer >= 1"),
        (["eval", "tasks=[]"],
         "invalid tasks []: expected a task, family or file name, or a non-empty list of them"),
        (["eval", "-m", "seed=range(-2,2)"], "invalid seed -2: expected a non-negative integer"),
        (["eval", "-m", "episodes_per_task=2,0"],
         "invalid episodes_per_task 0: expected an integer >= 1"),
        (["eval", "-m", "split=seen,bogus"], f"invalid split 'bogus': expected {SPLITS}"),
        (["eval", "-m", "seed=glob(*)"],
         "'seed=glob(*)': glob() is not supported; list the values"),
        (["calibrate", "epsilon=1.5"],
         "invalid epsilon 1.5: expected a number strictly between 0 and 1"),
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
    assert error_line(capsys, "run", f"task={task}", "split=unseen", f"hydra.run.dir={run_dir}") \
        == "saycan: error: task 't' has no 'unseen' instructions"
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


def test_free_text_is_literal(capsys, tmp_path):
    """`${...}` in a free-text value is those characters: the task name below is reported as
    typed, not as the key it would have resolved to."""
    line = error_line(capsys, "run", "task=${oc.env:OPENAI_API_KEY}",
                      f"hydra.run.dir={tmp_path / 'r'}")
    assert line.startswith("saycan: error: unknown task '${oc.env:OPENAI_API_KEY}'; available: ")
    [rewritten] = literal_free_text(["instruction='${oc.env:OPENAI_API_KEY}'"])
    assert rewritten == "instruction='\\${oc.env:OPENAI_API_KEY}'"


# ------------------------------------------------------------------------- properties
RUN = {"task": "put_block_in_bowl", "seed": 0, "split": "seen", "instruction": None,
       "max_steps": None}
EVAL = {**RUN, "tasks": ["put_block_in_bowl"], "seed_start": 100, "episodes_per_task": 2}
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 10**12), st.floats(), st.text(max_size=8),
    st.lists(st.integers(0, 3), max_size=2), st.sampled_from(["seen", "unseen", "0", "1"]),
)


def is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


ACCEPTS = {
    "seed": lambda v: is_int(v) and v >= 0,
    "seed_start": lambda v: is_int(v) and v >= 0,
    "episodes_per_task": lambda v: is_int(v) and v >= 1,
    "max_steps": lambda v: v is None or (is_int(v) and v >= 1),
    "split": lambda v: v in ("seen", "unseen", "unseen_colours"),
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
    st.sampled_from(list("ab ,:'\"\\$={}[]()") + ["${", "oc.env:OPENAI_API_KEY", "}", "\\${",
                                                  "${oc.env:OPENAI_API_KEY}", "${seed}"]),
    max_size=8,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(["instruction", "task", "tasks"]), text=FREE_TEXT,
       quoted=st.booleans())
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

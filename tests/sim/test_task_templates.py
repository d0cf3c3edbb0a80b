"""Instruction templates and task-file scalars are data, never code: a template holds only
`{R}`, `{R.colour}` and `{R.category}`; anything else (attribute chains into module globals,
conversions, format specs, unknown roles, dunder names) is one schema error line at load, and
no field of a task file is ever interpolated or coerced (`max_steps: true` is not 1)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from saycan.errors import ConfigError
from saycan.sim.tasks import Task, load_task
from saycan.sim.tasks.instance import render_template

CANARY = "sk-canary-task-template-0123456789"

BASE = {
    "name": "my_task",
    "family": "single",
    "scene": {"blocks": 2, "bowls": 1},
    "roles": {"A": {"category": "block"}, "B": {"category": "bowl"}},
    "instructions": {"seen": ["put the {A} in the {B}"]},
    "goal": [{"pred": "in", "args": ["A", "B"]}],
    "max_steps": 3,
}

GRAMMAR = "a template may use only {R}, {R.colour} or {R.category} for a declared role R"
HINT = f"is not a placeholder; {GRAMMAR} (no other braces)"


def write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def with_template(template: str) -> dict:
    return {**BASE, "instructions": {"seen": [template]}}


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_task(str(path))
    return str(info.value)


@pytest.mark.parametrize(
    ("template", "detail"),
    [
        # the environment through str.format's attribute and index lookups
        (
            "put {A.__new__.__globals__[dataclass].__globals__[sys].modules[os]"
            ".environ[OPENAI_API_KEY]} in {B}",
            f"'{{A.__new__.__globals__[dataclass].__glob' {HINT}",
        ),
        (
            "put {A.__class__.__init__.__globals__}",
            f"'{{A.__class__.__init__.__globals__}}' {HINT}",
        ),
        ("put {A!r} in {B}", f"'{{A!r}}' {HINT}"),
        ("put {A:>1000000} in {B}", f"'{{A:>1000000}}' {HINT}"),
        ("put {A.colour.upper} in {B}", f"'{{A.colour.upper}}' {HINT}"),
        ("put {A[0]} in {B}", f"'{{A[0]}}' {HINT}"),
        ("put {__class__} in {B}", f"'{{__class__}}' {HINT}"),
        ("put {_A} in {B}", f"'{{_A}}' {HINT}"),
        ("put {} in {B}", f"'{{}}' {HINT}"),
        ("put { A } in {B}", f"'{{ A }}' {HINT}"),
        ("put {A in {B}", f"'{{A in {{B}}' {HINT}"),
        ("put A} in {B}", f"'}}' {HINT}"),
        ("put {{A}} in {B}", f"'{{{{A}}' {HINT}"),
        ("put {C} in {B}", "{C} names no declared role; roles: A, B"),
    ],
)
def test_template_outside_the_grammar_is_one_schema_line(tmp_path, template, detail):
    path = write(tmp_path / "t.yaml", with_template(template))
    assert load_error(path) == f"{path}: field 'instructions.seen.0': {detail}"


def test_unseen_templates_are_checked_too(tmp_path):
    data = {**BASE, "instructions": {"seen": ["put {A} in {B}"], "unseen": ["{A.__doc__}"]}}
    path = write(tmp_path / "t.yaml", data)
    assert load_error(path) == f"{path}: field 'instructions.unseen.0': '{{A.__doc__}}' {HINT}"


def test_the_environment_never_reaches_the_error_or_the_instruction(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    path = write(
        tmp_path / "t.yaml",
        with_template(
            "{A.__new__.__globals__[dataclass].__globals__[sys].modules[os].environ[OPENAI_API_KEY]}"
        ),
    )
    assert CANARY not in load_error(path)
    # an interpolation in a template is braces outside the grammar: refused
    path = write(tmp_path / "u.yaml", with_template("put {A} in ${oc.env:OPENAI_API_KEY}"))
    assert load_error(path) == (
        f"{path}: field 'instructions.seen.0': '{{oc.env:OPENAI_API_KEY}}' {HINT}"
    )
    # other task text that looks like an interpolation stays those characters
    path = write(
        tmp_path / "v.yaml",
        {
            **with_template("put {A} in {B} %(x)s $HOME $OPENAI_API_KEY"),
            "description": "${oc.env:OPENAI_API_KEY}",
        },
    )
    spec = load_task(str(path))
    inst = Task(spec).sample(np.random.default_rng(0))
    assert spec.description == "${oc.env:OPENAI_API_KEY}"
    assert inst.instruction.endswith(" %(x)s $HOME $OPENAI_API_KEY")
    # so does an instruction given through the Python API
    text = "${oc.env:OPENAI_API_KEY} {A.__class__}"
    assert Task(spec, instruction=text).sample(np.random.default_rng(0)).instruction == text


@pytest.mark.parametrize("role", ["__class__", "_A", "A__B", "A-B", "A.B", "a b", ""])
def test_role_names_are_plain_identifiers(tmp_path, role):
    data = {**BASE, "roles": {role: {"category": "block"}, "B": {"category": "bowl"}}}
    path = write(tmp_path / "t.yaml", data)
    assert load_error(path) == (
        f"{path}: field 'roles': {role!r} is not a role name; use letters and digits, "
        "joined by single underscores (A, block_2)"
    )


def test_the_three_placeholders_render_from_the_bindings(tmp_path):
    data = {
        **BASE,
        "roles": {
            "A": {"category": "block", "colour": "red"},
            "B_2": {"category": "bowl", "colour": "blue"},
        },
        "goal": [{"pred": "in", "args": ["A", "B_2"]}],
        "instructions": {"seen": ["{A} {A.colour} {A.category} / {B_2.colour} {B_2}"]},
    }
    inst = Task(load_task(str(write(tmp_path / "t.yaml", data)))).sample(np.random.default_rng(0))
    assert inst.instruction == "red block red block / blue blue bowl"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_steps", True, "Input should be a valid integer"),
        ("max_steps", 3.0, "Input should be a valid integer"),
        ("max_steps", "3", "Input should be a valid integer"),
        ("max_steps", 0, "Input should be greater than or equal to 1"),
        ("scene", {"blocks": True, "bowls": 1}, "Input should be a valid integer"),
        (
            "scene",
            {"blocks": 2, "bowls": 1, "matched_pairs": False},
            "Input should be a valid integer",
        ),
        (
            "roles",
            {"A": {"category": "block", "absent": "yes"}, "B": {"category": "bowl"}},
            "Input should be a valid boolean",
        ),
        (
            "roles",
            {"A": {"category": "block", "held": 1}, "B": {"category": "bowl"}},
            "Input should be a valid boolean",
        ),
        ("name", 7, "Input should be a valid string"),
    ],
)
def test_task_file_scalars_are_strict(tmp_path, field, value, message):
    path = write(tmp_path / "t.yaml", {**BASE, field: value})
    error = load_error(path)
    assert error.startswith(f"{path}: field '{field}") and error.endswith(f": {message}")


def test_max_steps_true_is_not_one(tmp_path):
    path = write(tmp_path / "t.yaml", {**BASE, "max_steps": True})
    assert load_error(path) == f"{path}: field 'max_steps': Input should be a valid integer"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xff\xfe\x00name: x", "cannot read the task file (not UTF-8 text)"),
        (b"[" * 5000 + b"]" * 5000, "not valid YAML (nested too deeply)"),
        (b"name: 2020-13-45\n", "not valid YAML (ValueError)"),
    ],
)
def test_unreadable_task_files_are_one_line(tmp_path, content, reason):
    path = tmp_path / "t.yaml"
    path.write_bytes(content)
    assert load_error(path) == f"{path}: {reason}"


def test_a_directory_named_like_a_task_file_is_one_line(tmp_path):
    path = tmp_path / "t.yaml"
    path.mkdir()
    assert load_error(path) == f"task file {str(path)!r} is not a regular file: {path}"


TEXT = """name: t
family: single
scene: {blocks: 2, bowls: 1}
roles:
  A: {category: block}
  B: {category: bowl}
instructions: {seen: ["put the {A} in the {B}"]}
goal: [{pred: in, args: [A, B]}]
max_steps: 3
"""


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (TEXT + "max_steps: 40\n", 10),  # PyYAML kept the last: 40 steps, silently
        (
            TEXT.replace(
                "  B: {category: bowl}\n", "  B: {category: bowl}\n  A: {category: bowl}\n"
            ),
            7,
        ),  # the role A silently became a bowl
        (TEXT.replace("{category: block}", "{category: block, category: bowl}"), 5),
    ],
)
def test_a_key_written_twice_is_one_line(tmp_path, text, line):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    assert (
        load_error(path) == f"{path}: not valid YAML (line {line}: a key written twice in one "
        "mapping)"
    )


def test_a_merged_key_may_still_be_overridden(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        TEXT.replace(
            "  A: {category: block}", "  A: {<<: {category: block, colour: red}, colour: blue}"
        )
    )
    assert load_task(str(path)).roles["A"].colour == "blue"


@pytest.mark.parametrize(
    ("template", "detail"),
    [
        ("", "the template is empty"),
        (" \n\t ", "the template is empty"),
        ("put the {A} in the {B} \x1b[2J", "the template contains control characters"),
        ("put the {A} \u202e in the {B}", "the template contains control characters"),
        ("put the {A} at the {L.colour} corner", "{L.colour}: a location role has no colour"),
    ],
)
def test_templates_the_planner_would_refuse_are_refused_at_load(tmp_path, template, detail):
    """These loaded, then failed (or rendered a blank) only in the episodes that sampled the
    template: mid-sweep, as error records, with exit code 0."""
    data = {
        **with_template("put {A} in {B}"),
        "roles": {**BASE["roles"], "L": {"category": "location"}},
        "instructions": {"seen": ["put {A} in {B}", template]},
    }
    path = write(tmp_path / "t.yaml", data)
    assert load_error(path) == f"{path}: field 'instructions.seen.1': {detail}"


def test_a_huge_task_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "t.yaml"
    with path.open("wb") as f:  # a link to a disk image read as gigabytes (MemoryError)
        f.truncate(3 * 2**20)
    assert load_error(path) == f"{path}: the task file is larger than 1000000 bytes"


# ------------------------------------------------------------------------- properties
ROLES = ("A", "B")
TEMPLATE_TEXT = st.lists(
    st.sampled_from(
        list("AB_C{}.:!r[]0 xyz$")
        + ["colour", "category", "__class__", "{A}", "{B.colour}", "{A.category}"]
    ),
    max_size=12,
).map("".join)


def reference_render(template: str, names: dict[str, tuple[str, str, str]]) -> str:
    """The expected text: each `{R}`, `{R.colour}`, `{R.category}` replaced, nothing else."""
    field = {"": 0, ".colour": 1, ".category": 2}
    return re.sub(
        r"\{(A|B)(\.colour|\.category)?\}",
        lambda m: names[m.group(1)][field[m.group(2) or ""]],
        template,
    )


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("prop")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(template=st.lists(TEMPLATE_TEXT, min_size=1, max_size=4).map("".join))
def test_random_templates_load_or_fail_with_one_line(scratch, template):
    path = write(scratch / "t.yaml", with_template(template))
    try:
        spec = load_task(str(path))
    except ConfigError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith(f"{path}: field 'instructions.seen.0': ")
        event("refused")
        return
    event("loaded")
    inst = Task(spec).sample(np.random.default_rng(0))
    names = {
        r: (inst.bindings[r], inst.bindings[r].colour, inst.bindings[r].category) for r in ROLES
    }
    assert inst.instruction == reference_render(template, names)
    assert render_template(template, inst.bindings) == inst.instruction


YAML_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 60),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["A", "B", "block", "bowl", "in", "red", "{A}"]),
)
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                [
                    "min",
                    "max",
                    "category",
                    "colour",
                    "pred",
                    "args",
                    "seen",
                    "unseen",
                    "A",
                    "B",
                    "on",
                    "x",
                ]
            ),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from(sorted(BASE) + ["extra"]), YAML_VALUES, max_size=3))
def test_random_specs_load_or_fail_with_one_line(scratch, changes):
    path = write(scratch / "s.yaml", {**BASE, **changes})
    try:
        load_task(str(path))
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{path}: ")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=st.binary(max_size=200))
def test_random_bytes_load_or_fail_with_one_line(scratch, content):
    path = scratch / "b.yaml"
    path.write_bytes(content)
    try:
        load_task(str(path))
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{path}: ")


def test_a_scene_that_does_not_fit_is_a_config_error(tmp_path):
    """Six blocks in the narrow centre band cannot be placed apart: that was a ValueError,
    a traceback with exit code 1 ("the episode failed") from `saycan run`."""
    roles = {r: {"category": "block", "region": "centre band"} for r in "ABCDEF"}
    data = {
        **BASE,
        "scene": {"blocks": 6, "bowls": 1},
        "roles": {**roles, "G": {"category": "bowl"}},
        "instructions": {"seen": ["put the {A} in the {G}"]},
        "goal": [{"pred": "in", "args": ["A", "G"]}],
    }
    task = Task(load_task(str(write(tmp_path / "t.yaml", data))))
    with pytest.raises(
        ConfigError,
        match=r"^cannot place \[.*\] apart, in their regions and "
        r"clear of 0 places: the task's scene does not fit \(fewer objects or "
        r"wider regions\)$",
    ):
        task.sample(np.random.default_rng(0))

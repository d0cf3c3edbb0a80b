"""A component Hydra cannot build is one readable line: the target, its config key and what
the constructor raised, never a crash of the error path itself, never a secret, never a page."""

from __future__ import annotations

import pytest
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from saycan.errors import ConfigError, SayCanError
from saycan.runtime.components import DETAIL_LIMIT, surfaced


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("this __str__ is broken")


def failure(config: dict) -> InstantiationException:
    with pytest.raises(InstantiationException) as err:
        instantiate(config)
    return err.value


def test_a_wrong_argument_names_target_key_and_error():
    exc = failure({"planner": {"_target_": "fractions.Fraction", "bogus": 1}})
    assert str(surfaced(exc)) == (
        "could not build a component: Error in call to target 'fractions.Fraction' "
        "(config key `planner`): TypeError: Fraction.__new__() got an unexpected keyword "
        "argument 'bogus'"
    )


def test_a_saycan_error_inside_is_surfaced_as_itself():
    try:
        raise InstantiationException("Error in call to target 'x.Y':") from ConfigError("bad x")
    except InstantiationException as exc:
        got = surfaced(exc)
    assert isinstance(got, ConfigError) and str(got) == "bad x"


@pytest.mark.parametrize(
    "cause, tail",
    [
        (Unprintable(), ": Unprintable"),
        (TypeError(), ": TypeError"),
        (ValueError("x" * 100_000), ": ValueError: " + "x" * DETAIL_LIMIT + "..."),
        (ValueError("two\nlines"), ": ValueError: two lines"),
    ],
)
def test_the_line_survives_odd_exceptions(cause: Exception, tail: str):
    try:
        raise InstantiationException("Error in call to target 'x.Y':\nrepr\nfull_key: llm") from (
            cause
        )
    except InstantiationException as exc:
        got = surfaced(exc)
    assert type(got) is SayCanError
    assert str(got) == "could not build a component: Error in call to target 'x.Y' " + (
        f"(config key `llm`){tail}"
    )


def test_the_innermost_of_nested_failures_is_named():
    try:
        try:
            raise InstantiationException(
                "Error in call to target 'inner.Z':\nTypeError('no')\nfull_key: scorer"
            ) from TypeError("no")
        except InstantiationException as inner:
            raise InstantiationException(
                "Error in call to target 'outer.Y':\nInstantiationException(...)\nfull_key: planner"
            ) from inner
    except InstantiationException as exc:
        got = surfaced(exc)
    assert str(got) == (
        "could not build a component: Error in call to target 'inner.Z' (config key `scorer`): "
        "TypeError: no"
    )


def test_a_secret_the_constructor_echoes_is_redacted(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SOME_API_KEY", "sk-canary-components-0123")
    try:
        raise InstantiationException("Error in call to target 'x.Y':") from ValueError(
            "could not convert string to float: 'sk-canary-components-0123'"
        )
    except InstantiationException as exc:
        got = str(surfaced(exc))
    assert "sk-canary" not in got and got.endswith("float: '<$SOME_API_KEY>'")

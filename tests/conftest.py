"""Property tests (Hypothesis) draw the same examples on every run of `make test`, so a CI run
never fails on a draw nobody can repeat; `make test-all` explores new ones
(`--hypothesis-profile=explore`), and `--hypothesis-seed=N` repeats one exploration."""

import sys

import pytest
from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("repeatable")


@pytest.fixture
def saycan_in_process(capsys):
    """Run a `saycan` command through the CLI's entry point in this process: a function
    (*args) -> (exit code, stderr). A subprocess per case would cost seconds of imports; tests
    that cross the process boundary run the installed command instead."""
    from saycan.cli import main

    def run(*args: str) -> tuple[int, str]:
        argv = sys.argv
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code
        finally:
            sys.argv = argv
        return code, capsys.readouterr().err

    return run

"""Property tests (Hypothesis) draw the same examples on every run of `make test`, so a CI run
never fails on a draw nobody can repeat; `make test-all` explores new ones
(`--hypothesis-profile=explore`), and `--hypothesis-seed=N` repeats one exploration."""

import os
import sys

import pytest
from hypothesis import settings

# `make test` runs two xdist workers on two cores. Torch would start one thread per core in each
# worker and in every command a test starts: four threads or more fighting over two cores,
# which made model-heavy tests up to four times slower. One thread per process instead.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)

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

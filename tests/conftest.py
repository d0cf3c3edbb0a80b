"""Property tests (Hypothesis) draw the same examples on every run of `make test`, so a CI run
never fails on a draw nobody can repeat; `make test-all` explores new ones
(`--hypothesis-profile=explore`), and `--hypothesis-seed=N` repeats one exploration."""

from hypothesis import settings

settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("repeatable")

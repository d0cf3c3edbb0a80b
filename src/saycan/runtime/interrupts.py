"""Ctrl-C, SIGTERM and SIGHUP during `saycan run` / `saycan eval`: stop the episode, keep its
files.

The first SIGINT, SIGTERM or SIGHUP (a closed terminal) raises `Interrupted` wherever the main
thread is (a decision, a motion, waiting for the operator). The episode runner catches it,
writes the trace, `episode.json` (`stopped_by: interrupted`) and the video so far, and lets it
go on up; a sweep
records nothing for the interrupted episode (it runs again on resume); the CLI prints one line
and exits 130. A second signal while those files are being written quits at once (they are
written atomically, so nothing is left half-written).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: The exit code of a command ended by SIGINT/SIGTERM (128 + SIGINT, the shell convention).
EXIT_INTERRUPTED = 130

#: SIGHUP too (POSIX): a closed terminal or a dropped ssh session ends the episode the same way
#: instead of killing the process with no episode.json.
SIGNALS = (signal.SIGINT, signal.SIGTERM, *((signal.SIGHUP,) if os.name == "posix" else ()))


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived. A KeyboardInterrupt, so that no `except Exception` on the way
    (a failed episode, a fallback) swallows it. `note` says what was saved where."""

    def __init__(self, signame: str) -> None:
        super().__init__(signame)
        self.signame = signame
        self.note = ""


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Raise `Interrupted` on the first SIGINT/SIGTERM inside the block (main thread only:
    elsewhere signals cannot be handled and the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[str] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if received:  # a second signal while the first one's files are written: quit now
            os.write(2, f"saycan: {name} again: quitting at once\n".encode())
            os._exit(EXIT_INTERRUPTED)
        received.append(name)
        if _HELD[0]:  # inside `held()`: raised when it ends
            _PENDING.append(name)
            return
        raise Interrupted(name)

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


#: How deep in `held()` blocks the main thread is, and a signal that arrived inside one.
_HELD = [0]
_PENDING: list[str] = []


@contextmanager
def held() -> Iterator[None]:
    """A step that must be recorded whole: a first signal inside the block is raised as
    `Interrupted` when it ends (a step written to the trace but not yet to the episode's list
    was left out of episode.json: 0 steps beside a 1-line trace)."""
    _HELD[0] += 1
    try:
        yield
    finally:
        _HELD[0] -= 1
        if not _HELD[0] and _PENDING:
            raise Interrupted(_PENDING.pop())


def interrupted_line(exc: KeyboardInterrupt) -> str:
    """The one line printed for an interrupted command."""
    if isinstance(exc, Interrupted):
        return f"saycan: interrupted by {exc.signame}" + (f": {exc.note}" if exc.note else "")
    return "saycan: interrupted"

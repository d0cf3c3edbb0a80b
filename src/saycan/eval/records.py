"""The sweep's one shared `results.jsonl`: one JSON record per finished episode.

Many writers (joblib/Ray/SLURM workers) append to the same file, so every append holds a file
lock (`filelock`, a sibling `.lock` file) and writes one whole line, flushed and fsynced: a
killed sweep loses no finished episode. A line cut by a kill mid-write is skipped on reading
(that episode simply runs again), and the next append starts on a fresh line so it cannot be
glued onto the broken one. A write that fails (a full disk) cuts the file back to what it was
and is one `OutputError` line: the records already there stay intact.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from saycan.errors import OutputError
from saycan.files import append_whole, cannot_write

RESULTS_FILE = "results.jsonl"


class ResultsStore:
    """Append-only episode records in `<results_dir>/results.jsonl`, keyed by `record["key"]`."""

    def __init__(self, results_dir: str | os.PathLike[str]) -> None:
        self.dir = Path(results_dir)
        self.path = self.dir / RESULTS_FILE
        self._lock = FileLock(str(self.path) + ".lock")

    def append(self, record: Mapping[str, Any]) -> bool:
        """Append `record` unless a record with its key is already on disk (checked under the
        lock, so a key is recorded exactly once even if two jobs ran it); True if written."""
        line = (json.dumps(record) + "\n").encode("utf-8")
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            with self._lock:
                if self._has_key(record.get("key")):
                    return False
                with self.path.open("ab", buffering=0) as f:
                    if f.tell() > 0 and not self._ends_with_newline():
                        line = b"\n" + line  # a writer was killed mid-line: do not glue onto it
                    append_whole(f.fileno(), line)  # a full disk: the file is cut back
        except OSError as exc:
            raise cannot_write(self.path, exc) from None
        return True

    def _readable(self) -> bool:
        """Whether there is a file to read; a directory, FIFO or device in its place is one
        `OutputError` line (a FIFO blocked the sweep forever, a directory was a traceback)."""
        if not self.path.exists():
            return False
        if not self.path.is_file():
            raise OutputError(f"cannot read {self.path}: not a regular file; move it away")
        return True

    def _has_key(self, key: object) -> bool:
        if not isinstance(key, str) or not self._readable():
            return False
        needle = json.dumps(key)
        with self.path.open(encoding="utf-8", errors="replace") as f:  # bad bytes: a broken line
            for line in f:
                if needle in line:
                    try:
                        if json.loads(line).get("key") == key:
                            return True
                    except (json.JSONDecodeError, AttributeError):
                        continue
        return False

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Every complete record, in file order (broken lines skipped)."""
        if not self._readable():
            return
        with self.path.open(encoding="utf-8", errors="replace") as f:  # bad bytes: a broken line
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # cut by a kill: that episode runs again
                if isinstance(record, dict):
                    yield record

    def by_key(self) -> dict[str, dict[str, Any]]:
        """The first record of each key (a duplicate, possible only if two sweeps race on one
        key, never replaces it)."""
        done: dict[str, dict[str, Any]] = {}
        for record in self:
            key = record.get("key")
            if isinstance(key, str):
                done.setdefault(key, record)
        return done

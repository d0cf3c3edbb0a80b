"""A disk cache of scores, wrapping any `LanguageScorer`: repeated evaluations cost nothing.

Evaluations re-ask the same questions (same prompt, same options) across reruns, resumed sweeps
and ablations; with a hosted model each one costs money and time. The cache is one SQLite file
(WAL mode, a busy timeout, one transaction per write), so several sweep workers can share it
safely and a killed process never leaves a half-written entry.

The key is a SHA-256 over (backend fingerprint, prompt, options in order): the fingerprint holds
the scorer's name and every setting that changes its numbers (mode, base URL, method, ...), so a
changed model or scoring setting never reads stale entries. Whole calls are cached, not single
options, because some backends (the chat approximation) score an option relative to the others.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from saycan.errors import ConfigError
from saycan.planner.scorers.base import (
    CountsTokens,
    KeepsPromptCache,
    LanguageScorer,
    PinsPromptPrefix,
    ScorerStats,
    TrainedOn,
    model_name,
    token_counts,
)

CACHE_ENV = "SAYCAN_CACHE_DIR"
_DEFAULT_ROOT = Path("~/.cache/saycan")
_FILE = "scores.sqlite3"
_KEY_VERSION = 1
# Attributes that change a scorer's numbers, read when it has no `cache_fingerprint` of its own.
_FINGERPRINT_ATTRS = ("method", "dtype", "gguf_file", "model_id", "adapter_id")
_OPTIONAL_ATTRS = ("adapter_id",)


def default_cache_dir() -> Path:
    """`$SAYCAN_CACHE_DIR/scores`, else `~/.cache/saycan/scores`."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root) if root else _DEFAULT_ROOT.expanduser()) / "scores"


def fingerprint(scorer: object) -> dict[str, Any]:
    """What identifies a scorer's numbers: its own `cache_fingerprint` if it has one, else its
    name plus the usual settings attributes."""
    own = getattr(scorer, "cache_fingerprint", None)
    if own is not None:
        return dict(own)
    fp: dict[str, Any] = {"name": getattr(scorer, "name", type(scorer).__name__)}
    for attr in _FINGERPRINT_ATTRS:
        if hasattr(scorer, attr):
            if attr in _OPTIONAL_ATTRS and getattr(scorer, attr) is None:
                continue  # unset: keys written before the attribute existed stay valid
            fp[attr] = str(getattr(scorer, attr))
    return fp


class ScoreStore:
    """Key -> JSON value in one SQLite file, safe across threads and processes."""

    def __init__(self, directory: str | os.PathLike[str] | None = None):
        self.directory = Path(directory).expanduser() if directory else default_cache_dir()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the score cache directory {self.directory}: {exc}"
            ) from exc
        self.path = self.directory / _FILE
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS scores (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open the score cache {self.path}: {exc}") from exc

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM scores WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        text = json.dumps(value)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO scores (key, value) VALUES (?, ?)", (key, text)
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM scores").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class CachedScorer:
    """A `LanguageScorer` that answers repeated (prompt, options) from disk and asks `scorer`
    otherwise. `stats.cache_hits` is 1 for a call answered from the cache (which computes no
    tokens); `total_stats` accumulates over calls."""

    def __init__(self, scorer: LanguageScorer, cache_dir: str | os.PathLike[str] | None = None):
        self.scorer = scorer
        self.name = scorer.name
        self.store = ScoreStore(cache_dir)
        self.stats = ScorerStats()
        self.total_stats = ScorerStats()
        self.last_token_counts: list[int] | None = None

    @property
    def model_name(self) -> str:
        """The wrapped scorer's model id (records' `llm`), asked each time: a remote scorer
        learns it from its server on first use."""
        return model_name(self.scorer)

    @property
    def cache_fingerprint(self) -> dict[str, Any]:
        return fingerprint(self.scorer)

    def key(self, prompt: str, options: Sequence[str]) -> str:
        payload = {
            "v": _KEY_VERSION,
            "scorer": fingerprint(self.scorer),
            "prompt": prompt,
            "options": list(options),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()

    def score(self, prompt: str, options: Sequence[str]) -> np.ndarray:
        start = time.perf_counter()
        options = list(options)
        if not isinstance(prompt, str) or not all(isinstance(o, str) for o in options):
            return self._miss(prompt, options, None)  # the scorer raises its own typed error
        key = self.key(prompt, options)
        hit = self.store.get(key)
        if hit is None or len(hit.get("scores", ())) != len(options):
            return self._miss(prompt, options, key)
        scores = np.array([-np.inf if s is None else s for s in hit["scores"]], dtype=np.float64)
        self.last_token_counts = hit.get("token_counts")
        self.stats = ScorerStats(
            calls=1, options=len(options), cache_hits=1, seconds=time.perf_counter() - start
        )
        self.total_stats.add(self.stats)
        return scores

    def _miss(self, prompt: str, options: list[str], key: str | None) -> np.ndarray:
        scores = np.asarray(self.scorer.score(prompt, options), dtype=np.float64)
        self.last_token_counts = token_counts(self.scorer, len(options))
        inner = getattr(self.scorer, "stats", None)
        self.stats = (
            ScorerStats(**inner.to_dict())
            if isinstance(inner, ScorerStats)
            else ScorerStats(calls=1)
        )
        self.total_stats.add(self.stats)
        if key is not None:
            values = [float(s) if np.isfinite(s) else None for s in scores]
            self.store.put(key, {"scores": values, "token_counts": self.last_token_counts})
        return scores

    def trained_on(self) -> dict[str, range]:
        return self.scorer.trained_on() if isinstance(self.scorer, TrainedOn) else {}

    def counts_tokens(self) -> bool:
        return isinstance(self.scorer, CountsTokens) and self.scorer.counts_tokens()

    def reset_cache(self) -> None:
        """Forward the planner's per-episode reset to the wrapped scorer (its KV cache)."""
        if isinstance(self.scorer, KeepsPromptCache):
            self.scorer.reset_cache()

    def pin_prefix(self, text: str) -> None:
        """Forward a planner's fixed prompt prefix to the wrapped scorer (its KV cache)."""
        if isinstance(self.scorer, PinsPromptPrefix):
            self.scorer.pin_prefix(text)

    def close(self) -> None:
        self.store.close()


def cached(
    scorer: LanguageScorer, cache: bool = True, cache_dir: str | None = None
) -> LanguageScorer:
    """Hydra entry point for any backend: `scorer` wrapped in the disk cache unless cache=false."""
    return CachedScorer(scorer, cache_dir) if cache else scorer


__all__ = ["CachedScorer", "ScoreStore", "cached", "default_cache_dir", "fingerprint"]

"""Few-shot examples retrieved by similarity to the instruction (a prompt-design lever).

A fixed list of examples teaches a small model one way to solve each kind of task it shows, and
nothing about the rest. Here the examples come from a pool of expert episodes (seen templates,
seen colours, training seeds: written by `saycan train planner`), and each instruction gets the
`k` pool examples whose instructions are closest in sentence-embedding space, at most one per
task, the closest last (nearest the question). The pool's seed range is exposed as
`pool_seeds`, so evaluation refuses to run on a seed an example came from.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from saycan.errors import ConfigError
from saycan.perception.scene import SceneDescription, TextFormat
from saycan.planner.embedding import SentenceEmbedder, shared_embedder
from saycan.planner.prompts import FewShotExample, HistoryStep, PromptBuilder
from saycan.skills.types import SkillCall

PACKAGED_POOL = Path(__file__).resolve().parents[1] / "assets" / "planner" / "example_pool.jsonl.gz"


def write_pool(episodes: Sequence[dict[str, Any]], path: Path) -> int:
    """One pool row per solved expert episode: the objects, the instruction, the expert plan."""
    rows = []
    for ep in episodes:
        if "error" in ep or not ep.get("success") or not ep.get("decisions"):
            continue
        first = ep["decisions"][0]
        rows.append(
            {
                "task": ep["task"],
                "seed": ep["seed"],
                "template": ep["template"],
                "objects": [
                    o[0] for o in first["scene"]["objects"]
                ],  # train.affordance_data.scene_to_json rows
                "instruction": ep["instruction"],
                "steps": [d["target"] for d in ep["decisions"]],
            }
        )
    text = "".join(json.dumps(r) + "\n" for r in rows).encode()
    with gzip.GzipFile(path, "wb", mtime=0) as fh:  # same rows, same bytes
        fh.write(text)
    return len(rows)


def read_pool(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"example pool {str(path)!r} not found (saycan train planner writes one)")
    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


class RetrievedExamplesPrompt(PromptBuilder):
    """A `PromptBuilder` whose examples are chosen per instruction from a pool."""

    def __init__(
        self,
        pool: str | None = None,
        k: int = 4,
        embedder: SentenceEmbedder | None = None,
        header: str = "",
        scene_format: TextFormat = "saycan",
        feedback: str = "none",
        pool_seed_range: Sequence[int] | None = None,
    ):
        super().__init__((), header, scene_format, feedback)
        if int(k) < 1:
            raise ConfigError(f"prompt.k must be at least 1, got {k}")
        self.k = int(k)
        self.rows = read_pool(pool or PACKAGED_POOL)
        if not self.rows:
            raise ConfigError("the example pool is empty")
        seeds = [int(r["seed"]) for r in self.rows]
        lo, hi = pool_seed_range if pool_seed_range else (min(seeds), max(seeds) + 1)
        self.pool_seeds = range(int(lo), int(hi))
        self.embedder = embedder or shared_embedder()
        self._pool_vectors: np.ndarray | None = None
        self._builders: dict[str, PromptBuilder] = {}

    def select(self, instruction: str) -> list[dict[str, Any]]:
        """The k most similar pool rows (one per task), least similar first."""
        if self._pool_vectors is None:
            self._pool_vectors = self.embedder.encode([r["instruction"] for r in self.rows])
        sims = self._pool_vectors @ self.embedder.encode([instruction])[0]
        chosen, tasks = [], set()
        for i in np.argsort(-sims, kind="stable"):
            if self.rows[i]["task"] not in tasks:
                chosen.append(self.rows[i])
                tasks.add(self.rows[i]["task"])
            if len(chosen) == self.k:
                break
        return chosen[::-1]

    def build(
        self,
        instruction: str,
        scene: SceneDescription,
        history: Sequence[SkillCall | HistoryStep] = (),
    ) -> str:
        if instruction not in self._builders:
            examples = [
                FewShotExample(r["objects"], r["instruction"], r["steps"])
                for r in self.select(instruction)
            ]
            self._builders[instruction] = PromptBuilder(
                examples, self.header, self.scene_format, self.feedback
            )
        return self._builders[instruction].build(instruction, scene, history)

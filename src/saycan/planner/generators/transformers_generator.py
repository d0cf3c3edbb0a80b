"""Greedy generation from a local transformers model, the one `TransformersScorer` loads.

The generator wraps a scorer instead of loading weights itself, so the GGUF resolution, the
dequantised cache, a merged adapter (`llm=smollm2_planner`) and int8 kernels are exactly the
scorer's. Decoding is greedy (argmax, first index on ties: deterministic), one token per forward
pass over the KV cache, and stops at the token cap, the model's EOS, or the first stop sequence
in the decoded text (checked after every token, so a stop spanning several tokens is found).

Consecutive prompts of an episode share their head (the few-shot examples, the scene, the steps
so far), so the KV cache of the last prompt is kept and the next prompt runs only the tokens
after the common prefix, as the scorer does for scoring. `reset_cache` drops it at an episode's
start: a reused prefix moves logits in the last float digits, and an episode's result must not
depend on the episode that ran before it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from saycan.errors import ConfigError, ScorerError
from saycan.planner.generation import Generation
from saycan.planner.generators.stops import check_cap, check_stops, cut_at_stop
from saycan.planner.scorers.transformers_scorer import (  # the scorer's cache conventions
    TransformersScorer,
    _cache_tensors,
    _common_prefix,
    _make_cache,
    encode_prompt,
    returned_cache,
    with_cache,
)


class TransformersGenerator:
    """A `TextGenerator` over a `TransformersScorer`'s model (loaded lazily, on first use)."""

    def __init__(self, scorer: TransformersScorer):
        if not isinstance(scorer, TransformersScorer):
            raise ConfigError(
                "the transformers generator needs a local model (llm=smollm2, smollm2_planner, "
                f"gemma3_270m, hf), got {type(scorer).__name__}"
            )
        self.scorer = scorer
        self.name = f"generate:{scorer.name}"
        self.model_name = scorer.model_name
        self.lock = threading.Lock()  # the kept cache is one per generator
        self._kept: tuple[list[int], list[tuple[Any, Any]]] | None = None

    def trained_on(self) -> dict[str, range]:
        """Its model's adapter's training seeds (the `TrainedOn` protocol)."""
        return self.scorer.trained_on()

    def reset_cache(self) -> None:
        """Forget the kept prompt KV cache (an episode starts)."""
        self._kept = None

    def prompt_tokens(self, prompt: str) -> int:
        """How many tokens `prompt` is, counted as `generate` counts it (BOS included)."""
        return len(encode_prompt(self.scorer.load().tokenizer, prompt))

    def generate(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> Generation:
        """Greedy continuation of `prompt`; see the module docstring."""
        if not isinstance(prompt, str):
            raise ScorerError(f"the prompt must be text, got {type(prompt).__name__}")
        ids = encode_prompt(self.scorer.load().tokenizer, prompt)
        return self.continue_ids(ids, max_new_tokens, stop)

    def continue_ids(
        self, ids: list[int], max_new_tokens: int, stop: Sequence[str] = ()
    ) -> Generation:
        """Greedy continuation of prompt token ids (a chat template's, which carry their own
        special tokens); `generate` tokenises text as the scorer does, then calls this."""
        start = time.perf_counter()
        stops = check_stops(stop)
        max_new_tokens = check_cap(max_new_tokens)
        loaded = self.scorer.load()
        limit = self.scorer.context_length
        if limit is not None and len(ids) + max_new_tokens > limit:
            raise ScorerError(
                f"the prompt is {len(ids)} tokens and {max_new_tokens} more were asked for; "
                f"{self.scorer.model_id} attends to {limit} tokens at most"
            )
        with self.lock:
            new, text, stopped_by, computed = self._decode(
                loaded.model, loaded.tokenizer, list(ids), max_new_tokens, stops
            )
        return Generation(
            text=text,
            prompt_tokens=len(ids),
            generated_tokens=len(new),
            stopped_by=stopped_by,
            seconds=time.perf_counter() - start,
            tokens_computed=computed,
        )

    def _decode(
        self, model: Any, tokenizer: Any, ids: list[int], cap: int, stops: tuple[str, ...]
    ) -> tuple[list[int], str, str, int]:
        """The greedy loop: (new ids, text cut at the stop, why it stopped, tokens run)."""
        import torch

        eos = _eos_ids(model, tokenizer)
        keep = 0
        past = _make_cache(None)
        if self._kept is not None:
            kept_ids, kv = self._kept
            keep = min(_common_prefix(kept_ids, ids), len(ids) - 1)  # >= 1 token must run
            if keep:
                past = _make_cache([(k[:, :, :keep], v[:, :, :keep]) for k, v in kv])
        feed, position, computed = ids[keep:], keep, 0
        new: list[int] = []
        text, stopped_by = "", "length"
        with torch.inference_mode():
            for _ in range(cap):
                out = model(
                    input_ids=torch.tensor([feed]),
                    position_ids=torch.arange(position, position + len(feed)).unsqueeze(0),
                    **with_cache(model, past),
                    use_cache=True,
                )
                past = returned_cache(out)
                computed += len(feed)
                position += len(feed)
                token = int(out.logits[0, -1].argmax())
                if token in eos:
                    stopped_by = "eos"
                    break
                new.append(token)
                text, found = cut_at_stop(tokenizer.decode(new, skip_special_tokens=True), stops)
                if found:
                    stopped_by = "stop"
                    break
                feed = [token]
        self._kept = (ids + new[:-1] if stopped_by != "eos" else ids + new, _cache_tensors(past))
        return new, text, stopped_by, computed


def _eos_ids(model: Any, tokenizer: Any) -> frozenset[int]:
    """Every id that ends a turn: the tokenizer's EOS and the generation config's (a list for
    chat models such as Gemma-3)."""
    found: set[int] = set()
    for value in (
        tokenizer.eos_token_id,
        getattr(getattr(model, "generation_config", None), "eos_token_id", None),
    ):
        if isinstance(value, int):
            found.add(value)
        elif isinstance(value, (list, tuple)):
            found.update(int(v) for v in value)
    return frozenset(found)


__all__ = ["TransformersGenerator"]

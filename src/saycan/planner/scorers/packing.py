"""Candidate options as a token trie, and one decision (or several) laid out for ONE forward pass.

Why one pass: on a CPU a forward call of a small model has a fixed cost (dispatching every
layer) comparable to computing ~50 tokens, so walking the trie depth by depth, or running the
prompt and the options in separate calls, pays that cost several times per decision.

A pass holds, per *segment* (one decision of one stream):

* the prompt tokens that are new since the stream's kept KV cache (the *delta*), causal among
  themselves and attending to the cached prefix;
* every trie node that has children (an "inner" node: its logits predict a candidate token),
  attending to the cached prefix, the whole delta, its own ancestors and itself, at the
  position it would have right after the prompt (prompt length + depth - 1).

Keys are the segments' cached prefixes (concatenated), then all the pass's new tokens; a
segment never sees another segment's keys, so several episodes' decisions can share a pass and
each gets the numbers it would get alone. Options' last tokens are never run (nothing predicts
from them). Adapter training (`saycan.train.option_packing`) lays out the same trie the same
way, so training and scoring see the same tokens at the same positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ROOT = 0

#: Layer types whose attention takes the tree mask (a sliding window narrows it by position).
TREE_LAYER_TYPES = frozenset({"full_attention", "sliding_attention"})


def layer_kinds(config: Any) -> list[str]:
    """Each decoder layer's attention kind. Hybrid configs list them (`layer_types`: Gemma-3,
    Qwen2); a config with a window and no list (Mistral) slides in every layer, as its own
    forward does; the rest attend to everything."""
    n = int(config.num_hidden_layers)
    if getattr(config, "layer_types", None):
        return list(config.layer_types)
    window = getattr(config, "sliding_window", None)
    if window is not None and getattr(config, "use_sliding_window", True):
        return ["sliding_attention"] * n
    return ["full_attention"] * n


def pack_refusal(config: Any) -> str | None:
    """Why a transformers model (by its config) cannot run a packed pass (None: it can)."""
    layer_types = set(layer_kinds(config))
    if not layer_types <= TREE_LAYER_TYPES:
        return f"layer types {sorted(layer_types - TREE_LAYER_TYPES)} take no tree mask"
    attn = getattr(config, "_attn_implementation", "sdpa")
    if attn not in ("sdpa", "eager"):
        return f"attention implementation {attn!r} takes no custom 4D mask"
    if getattr(config, "use_bidirectional_attention", False):
        return "bidirectional attention"
    return None


@dataclass
class OptionTrie:
    """Options merged by shared token prefixes; node 0 is the prompt itself."""

    parent: list[int] = field(default_factory=lambda: [-1])
    token: list[int] = field(default_factory=lambda: [-1])
    depth: list[int] = field(default_factory=lambda: [0])
    children: list[dict[int, int]] = field(default_factory=lambda: [{}])
    ends: list[int] = field(default_factory=list)  # option index -> its last node

    @classmethod
    def build(cls, options: Sequence[Sequence[int]]) -> OptionTrie:
        trie = cls()
        for ids in options:
            node = ROOT
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
        every node's ancestors come before it."""
        inner = [n for n in range(1, len(self.token)) if self.children[n]]
        return sorted(inner, key=self.depth.__getitem__)

    def ancestry(self, node: int) -> list[int]:
        """The node and its ancestors, excluding the root."""
        chain = []
        while node != ROOT:
            chain.append(node)
            node = self.parent[node]
        return chain

    def option_sums(self, edge: np.ndarray) -> np.ndarray:
        """Each option's summed log-prob from per-node edge log-probs (float64)."""
        return np.array([edge[self.ancestry(end)].sum() for end in self.ends], dtype=np.float64)


@dataclass
class Segment:
    """One decision in a pass: `past` cached tokens of its stream are reused (positions
    0..past-1), `delta` new prompt tokens follow them, then the trie's inner nodes."""

    past: int
    delta: list[int]
    trie: OptionTrie
    inner: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.inner:
            self.inner = self.trie.inner_nodes()

    @property
    def prompt_len(self) -> int:
        return self.past + len(self.delta)

    @property
    def new_tokens(self) -> int:
        return len(self.delta) + len(self.inner)


@dataclass
class PackedPass:
    """Inputs of one forward pass over several segments, and where to read each one's results.

    `allowed` is (queries, keys) boolean: keys are every segment's cached prefix, in segment
    order (`past_offsets`), then the pass's queries (`query_offsets`: where each segment's delta
    starts). `keep` lists the query rows whose logits are computed; `root_row[s]` indexes
    `keep` for the row predicting segment s's depth-1 nodes (None: no delta, the stream's kept
    next-token distribution applies) and `node_row[s][node]` for an inner node's row.
    """

    ids: list[int]
    positions: list[int]
    key_positions: np.ndarray
    allowed: np.ndarray
    past_offsets: list[int]
    query_offsets: list[int]
    keep: list[int]
    root_row: list[int | None]
    node_row: list[dict[int, int]]

    @property
    def total_past(self) -> int:
        return int(self.allowed.shape[1] - self.allowed.shape[0])

    def sliding(self, window: int) -> np.ndarray:
        """`allowed` restricted to keys less than `window` positions behind the query (the
        rule of sliding-window layers, e.g. Gemma-3's)."""
        query_pos = np.asarray(self.positions)
        return self.allowed & (query_pos[:, None] - self.key_positions[None, :] < window)


def pack(segments: Sequence[Segment]) -> PackedPass:
    """Lay out `segments` for one pass (see the module docstring)."""
    total_past = sum(s.past for s in segments)
    queries = sum(s.new_tokens for s in segments)
    allowed = np.zeros((queries, total_past + queries), dtype=bool)
    ids: list[int] = []
    positions: list[int] = []
    key_positions = [np.arange(s.past) for s in segments]
    past_offsets, query_offsets, keep, root_row, node_row = [], [], [], [], []
    past_at = 0
    for seg in segments:
        q0, d, n = len(ids), len(seg.delta), len(seg.inner)
        rows = slice(q0, q0 + d + n)
        allowed[rows, past_at : past_at + seg.past] = True
        delta_cols = slice(total_past + q0, total_past + q0 + d)
        allowed[q0 : q0 + d, delta_cols] = np.tril(np.ones((d, d), dtype=bool))
        allowed[q0 + d : q0 + d + n, delta_cols] = True
        allowed[q0 + d : q0 + d + n, total_past + q0 + d : total_past + q0 + d + n] = _tree(seg)
        ids += seg.delta + [seg.trie.token[node] for node in seg.inner]
        positions += list(range(seg.past, seg.prompt_len))
        positions += [seg.prompt_len + seg.trie.depth[node] - 1 for node in seg.inner]
        if d:
            root_row.append(len(keep))
            keep.append(q0 + d - 1)
        else:
            root_row.append(None)
        node_row.append({node: len(keep) + i for i, node in enumerate(seg.inner)})
        keep += range(q0 + d, q0 + d + n)
        past_offsets.append(past_at)
        query_offsets.append(q0)
        past_at += seg.past
    key_positions.append(np.asarray(positions, dtype=np.int64))
    return PackedPass(
        ids,
        positions,
        np.concatenate(key_positions).astype(np.int64),
        allowed,
        past_offsets,
        query_offsets,
        keep,
        root_row,
        node_row,
    )


def _tree(seg: Segment) -> np.ndarray:
    """(inner, inner) boolean: each inner node sees its inner ancestors and itself."""
    slot = {node: i for i, node in enumerate(seg.inner)}
    block = np.zeros((len(seg.inner), len(seg.inner)), dtype=bool)
    for i, node in enumerate(seg.inner):
        parent = seg.trie.parent[node]
        if parent != ROOT:
            block[i] = block[slot[parent]]
        block[i, i] = True
    return block


def child_edges(
    trie: OptionTrie, source: dict[int, int], root: int | None
) -> tuple[list[int], list[int], list[int]]:
    """(row, token, child node) for every trie edge: the row (an index into the pass's kept
    logits) whose distribution predicts the child; edges from the root are left out when
    `root` is None (the caller reads them from the kept next-token distribution)."""
    rows, tokens, children = [], [], []
    for node, row in ([(ROOT, root)] if root is not None else []) + list(source.items()):
        for tok, child in trie.children[node].items():
            rows.append(row)
            tokens.append(tok)
            children.append(child)
    return rows, tokens, children


__all__ = ["OptionTrie", "PackedPass", "ROOT", "Segment", "child_edges", "pack"]

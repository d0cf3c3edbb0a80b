"""One planner decision as one sequence: the prompt, then every candidate call merged into a
token trie, with a tree attention mask.

Why: the planner chooses the argmax of log p(call | prompt) over *all* candidates, so that is
what the adapter is trained on (a softmax over every candidate, not a pair of contrast calls).
Scoring 20-30 calls of ~13 tokens one by one would cost ~20 forward passes per decision; they
share long prefixes (`robot.pick_and_place(red block, `), so the trie holds each prefix once
and one pass over ~P + 100 tokens gives every candidate's summed log-prob. Each trie token
attends to the prompt and its own ancestors and sits at the position it would have right after
the prompt; the layout is the scorer's own (`saycan.planner.scorers.packing`), so the numbers
equal what `TransformersScorer` ranks with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from saycan.planner.scorers.packing import ROOT, OptionTrie, Segment, pack


@dataclass
class PackedDecision:
    """A decision laid out for one forward pass (`saycan.planner.scorers.packing.pack`, the
    scorer's own layout: training and scoring share it).

    `ids`/`positions`: the prompt's tokens then the trie's inner nodes (those with children;
    options' last tokens are never input, nothing is predicted from them). `mask`: (L, L)
    boolean attention. `edge_src`/`edge_tok`: for each trie node, the sequence index whose
    logits predict it and its token. `paths[k]`: the edges (trie nodes) of candidate k.
    `target`: the expert's index.
    """

    ids: list[int]
    positions: list[int]
    prompt_len: int
    mask: np.ndarray
    edge_src: list[int]
    edge_tok: list[int]
    paths: list[list[int]]
    target: int

    def __len__(self) -> int:
        return len(self.ids)

    def allowed(self) -> np.ndarray:
        """Boolean (L, L) attention: causal over the prompt; a trie token sees the prompt, its
        ancestors and itself."""
        return self.mask


def pack_decision(
    prompt_ids: Sequence[int], option_ids: Sequence[Sequence[int]], target: int
) -> PackedDecision:
    """Lay out `prompt_ids` + the trie of `option_ids`; `target` indexes `option_ids`."""
    trie = OptionTrie.build(option_ids)
    plan = pack([Segment(0, list(prompt_ids), trie)])
    # The query row whose logits predict a node's children: the prompt's last token for the
    # root, the node's own row for an inner node.
    row = {n: plan.keep[k] for n, k in plan.node_row[0].items()}
    row[ROOT] = plan.keep[plan.root_row[0]]
    edges = range(1, len(trie.token))
    edge_src = [row[trie.parent[n]] for n in edges]
    edge_tok = [trie.token[n] for n in edges]
    paths = [[n - 1 for n in reversed(trie.ancestry(end))] for end in trie.ends]
    return PackedDecision(
        plan.ids,
        plan.positions,
        len(prompt_ids),
        plan.allowed,
        edge_src,
        edge_tok,
        paths,
        int(target),
    )


def batch_inputs(decisions: Sequence[PackedDecision], dtype: Any) -> tuple[Any, Any, Any]:
    """(ids (B, L), positions (B, L), additive mask (B, 1, L, L)) right-padded to the longest;
    a padding row attends to itself only, and no real row attends to padding. Sliding-window
    layers narrow it further by position (`saycan.train.planner._run_layers`)."""
    import torch

    width = max(len(d) for d in decisions)
    ids = torch.zeros((len(decisions), width), dtype=torch.long)
    pos = torch.zeros((len(decisions), width), dtype=torch.long)
    allowed = torch.zeros((len(decisions), 1, width, width), dtype=torch.bool)
    for j, d in enumerate(decisions):
        n = len(d)
        ids[j, :n] = torch.tensor(d.ids)
        pos[j, :n] = torch.tensor(d.positions)
        pos[j, n:] = torch.arange(n, width)
        allowed[j, 0, :n, :n] = torch.from_numpy(d.allowed())
        allowed[j, 0, range(n, width), range(n, width)] = True
    mask = torch.zeros(allowed.shape, dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return ids, pos, mask


def option_logprobs(hidden: Any, head: Any, decisions: Sequence[PackedDecision]) -> list[Any]:
    """Per decision, a tensor of every candidate's summed log p(tokens | prompt), from the final
    (normed) hidden states `hidden` (B, L, H). Only the positions that predict a trie token go
    through the vocabulary projection."""
    import torch

    out = []
    for j, d in enumerate(decisions):
        src = sorted(set(d.edge_src))
        row = {s: i for i, s in enumerate(src)}
        logp = torch.log_softmax(head(hidden[j, src]).float(), dim=-1)
        edge = logp[[row[s] for s in d.edge_src], d.edge_tok]
        out.append(torch.stack([edge[path].sum() for path in d.paths]))
    return out

"""`saycan bench scoring`: the cost of one planner decision with the fast scoring path, against
the one-forward-per-option reference (the SayCan notebook's way) and against the hardware's
floor, on the same prompts and options in one process (every ratio is measured side by side).

Per case (a prompt config and a text-only scene):

* *naive*: the reference scores the decision's prompt, one forward pass per option;
* *cold*: the fast path with no kept prompt cache (the first decision of an episode);
* *new episode*: the first decision of a later episode, whose prompt's fixed few-shot examples
  (`PromptBuilder.prefix`) were pinned once per process (`pin_prefix`; equal to *cold* for a
  prompt without examples, such as the default);
* *warm*: the next decision, whose prompt adds the chosen call to the history, after the
  first one was scored (what every later decision of an episode costs);
* *floor*: one plain forward pass over the same number of new tokens on top of the same reused
  prompt cache, logits for one row only; `ratio_*` is fast / floor (1.0: the packing, the tree
  mask and the extra logits rows cost nothing);
* *floor with rows*: the same plain pass with logits at as many rows as the fast path keeps
  (the full-vocabulary projection every exact method needs at each row that predicts a
  candidate token); `ratio_warm_rows` is the warm decision over it (1.0: packing and the
  tree mask cost nothing).

Fails (`"failed": true`, exit 1) if any option's log-prob deviates from the reference by more
than `tolerance` nats. With `quantize: [int8]` each case also prints the int8 scorer's warm time
and its largest deviation from the fp32 reference (`llm.quantize`; not a failure criterion).
The machine's load average is printed at the start and the end: timings on a shared machine
are only comparable at similar load.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from saycan.errors import ConfigError
from saycan.perception.scene import SceneDescription, SceneObject
from saycan.planner.prompts import PromptBuilder
from saycan.planner.scorers.packing import OptionTrie
from saycan.planner.scorers.transformers_scorer import (
    TransformersScorer,
    _make_cache,
    with_cache,
)
from saycan.skills.base import SkillLibrary
from saycan.skills.done import Done
from saycan.skills.pick_and_place import PickAndPlace
from saycan.world import LOCATIONS

#: Text-only scenes: colours beyond the simulator's palette are fine, nothing is rendered.
COLOURS = [
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "pink",
    "cyan",
    "brown",
    "gray",
    "white",
    "black",
    "olive",
    "navy",
]


def _scene(blocks: int, bowls: int) -> SceneDescription:
    objects = [SceneObject(f"{c} block", "block", c, (0.5, 0.0, 0.02)) for c in COLOURS[:blocks]]
    objects += [SceneObject(f"{c} bowl", "bowl", c, (0.5, 0.1, 0.02)) for c in COLOURS[-bowls:]]
    return SceneDescription(tuple(objects), locations=dict(LOCATIONS))


def _median_time(fn, repeats: int, setup=None) -> tuple[float, list[float], Any]:
    """Median seconds of `fn()` over `repeats` runs (`setup()` untimed before each)."""
    times, out = [], None
    for _ in range(repeats):
        if setup is not None:
            setup()
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, out


def _floor(
    scorer: TransformersScorer, ids: list[int], past: int, new: int, repeats: int, rows: int = 1
) -> float:
    """Median seconds of one plain causal forward over `new` tokens on top of a cache of the
    first `past` prompt tokens, logits for the last `rows` rows (1: the forward alone)."""
    import torch

    model = scorer.load().model
    tokens = (ids * (1 + (past + new) // len(ids)))[: past + new]
    with torch.inference_mode():
        kv = None
        if past:
            out = model(input_ids=torch.tensor([tokens[:past]]), use_cache=True, logits_to_keep=1)
            cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
            kv = [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers]
        x = torch.tensor([tokens[past:]])
        positions = torch.arange(past, past + new).unsqueeze(0)

        def run() -> None:
            past_cache = _make_cache([(k.clone(), v.clone()) for k, v in kv] if kv else None)
            model(
                input_ids=x,
                position_ids=positions,
                logits_to_keep=rows,
                use_cache=True,
                **with_cache(model, past_cache),
            )

        return _median_time(run, repeats)[0]


def _case(
    fast: TransformersScorer,
    reference: TransformersScorer,
    quantized: list,
    cfg: DictConfig,
    case: DictConfig,
) -> dict[str, Any]:
    builder: PromptBuilder = instantiate(cfg[str(case.prompt)])
    scene = _scene(int(case.blocks), int(case.bowls))
    skills = SkillLibrary([PickAndPlace(), Done()])
    calls = list(skills.candidates(scene))
    block, bowl = scene.names("block")[1], scene.names("bowl")[0]
    instruction = f"put the {block} in the {bowl}"
    first = builder.build(instruction, scene)
    # The next decision: the right call was made (the scene text is left as it was).
    after = builder.build(instruction, scene, [next(c for c in calls if c.args == (block, bowl))])
    options = [c.to_text() for c in calls]
    repeats = int(cfg.repeats)

    naive_s, naive_all, exact_first = _median_time(
        lambda: reference.score(first, options), int(cfg.naive_repeats)
    )
    tokens_naive = reference.stats.tokens_computed
    exact_after = reference.score(after, options)

    cold_s, cold_all, cold = _median_time(
        lambda: fast.score(first, options), repeats, setup=fast.reset_cache
    )
    cold_tokens, cold_calls = fast.stats.tokens_computed, fast.stats.forward_calls

    # A new episode with a few-shot prompt: its fixed examples were pinned once (`pin_prefix`,
    # untimed, as a sweep pays it once per process), the rest of the prompt is computed.
    def prime() -> None:
        fast.reset_cache()
        fast.score(first, options)

    fast.pin_prefix(builder.prefix)
    prime()  # the first decision after pinning computes the prefix
    episode_s, episode_all, episode = _median_time(
        lambda: fast.score(first, options), repeats, setup=fast.reset_cache
    )
    episode_tokens = fast.stats.tokens_computed
    episode_reused = fast.stats.prompt_tokens_reused
    fast.pin_prefix("")

    warm_s, warm_all, warm = _median_time(lambda: fast.score(after, options), repeats, setup=prime)
    warm_tokens, warm_calls = fast.stats.tokens_computed, fast.stats.forward_calls
    reused = fast.stats.prompt_tokens_reused
    prompt_ids = fast._encode_prompt(first)
    floor_cold = _floor(fast, prompt_ids, 0, cold_tokens, repeats)
    floor_warm = _floor(fast, prompt_ids, reused, warm_tokens, repeats)
    # Exact log-probs need the full-vocabulary projection at every row that predicts a
    # candidate token (the prompt's last token and each inner trie node): the same forward
    # with that many logits rows is the floor of any exact method.
    rows = 1 + len(OptionTrie.build([fast._encode_option(o) for o in options]).inner_nodes())
    floor_warm_rows = _floor(fast, prompt_ids, reused, warm_tokens, repeats, rows=rows)
    floor_episode = _floor(fast, prompt_ids, episode_reused, episode_tokens, repeats)
    diff = float(
        max(
            np.max(np.abs(cold - exact_first)),
            np.max(np.abs(episode - exact_first)),
            np.max(np.abs(warm - exact_after)),
        )
    )
    row: dict[str, Any] = {
        "name": str(case.name),
        "prompt": str(case.prompt),
        "options": len(options),
        "prompt_tokens": len(prompt_ids),
        "naive_s": round(naive_s, 3),
        "naive_s_all": [round(t, 3) for t in naive_all],
        "fast_cold_s": round(cold_s, 4),
        "fast_cold_s_all": [round(t, 4) for t in cold_all],
        "fast_warm_s": round(warm_s, 4),
        "fast_warm_s_all": [round(t, 4) for t in warm_all],
        "speedup_cold": round(naive_s / cold_s, 1),
        "speedup_warm": round(naive_s / warm_s, 1),
        "prefix_tokens": len(fast._encode_prompt(builder.prefix)) if builder.prefix else 0,
        "fast_new_episode_s": round(episode_s, 4),
        "fast_new_episode_s_all": [round(t, 4) for t in episode_all],
        "speedup_new_episode": round(naive_s / episode_s, 1),
        "tokens_new_episode": episode_tokens,
        "floor_new_episode_s": round(floor_episode, 4),
        "ratio_new_episode": round(episode_s / floor_episode, 2),
        "tokens_naive": tokens_naive,
        "tokens_cold": cold_tokens,
        "tokens_warm": warm_tokens,
        "prompt_tokens_reused_warm": reused,
        "forward_calls_cold": cold_calls,
        "forward_calls_warm": warm_calls,
        "floor_cold_s": round(floor_cold, 4),
        "floor_warm_s": round(floor_warm, 4),
        "ratio_cold": round(cold_s / floor_cold, 2),
        "ratio_warm": round(warm_s / floor_warm, 2),
        "logit_rows": rows,
        "floor_warm_rows_s": round(floor_warm_rows, 4),
        "ratio_warm_rows": round(warm_s / floor_warm_rows, 2),
        "max_abs_diff": diff,
    }
    for scorer in quantized:
        q_warm_s, _, q_warm = _median_time(
            lambda scorer=scorer: scorer.score(after, options),
            repeats,
            setup=lambda scorer=scorer: (scorer.reset_cache(), scorer.score(first, options)),
        )
        row[f"{scorer.quantize}_warm_s"] = round(q_warm_s, 4)
        row[f"{scorer.quantize}_max_dev_nats"] = float(np.max(np.abs(q_warm - exact_after)))
        row[f"{scorer.quantize}_same_argmax"] = bool(np.argmax(q_warm) == np.argmax(exact_after))
    return row


def bench_scoring(cfg: DictConfig) -> dict[str, Any]:
    load_start = os.getloadavg()
    fast = instantiate(cfg.llm)
    if not isinstance(fast, TransformersScorer):  # it times the local model's own passes
        raise ConfigError(
            f"bench scoring times one local model's scoring methods (llm=smollm2, "
            f"gemma3_270m or hf); {type(fast).__name__} is not one"
        )
    fast.load()
    reference = fast.with_method("reference")
    quantized = []
    for kind in cfg.quantize or []:
        q = instantiate(cfg.llm, quantize=str(kind))
        q.load()
        quantized.append(q)
    cases = [_case(fast, reference, quantized, cfg, case) for case in cfg.cases]
    max_diff = max(c["max_abs_diff"] for c in cases)
    return {
        "benchmark": "scoring",
        "model": fast.name,
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "cases": cases,
        "min_speedup_cold": min(c["speedup_cold"] for c in cases),
        "min_speedup_new_episode": min(c["speedup_new_episode"] for c in cases),
        "max_ratio_to_floor": max(
            max(c["ratio_cold"], c["ratio_new_episode"], c["ratio_warm"]) for c in cases
        ),
        "max_abs_diff": max_diff,
        "tolerance": float(cfg.tolerance),
        "failed": bool(max_diff > float(cfg.tolerance)),
    }

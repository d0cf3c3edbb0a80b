"""What an episode's decisions cost: LLM tokens and seconds, from decision records.

One function serves both the episode runner (from `Decision.to_dict()`) and the report (from
trace lines of older runs), so the two can never count differently.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any


def llm_tokens(stats: Mapping[str, Any] | None) -> tuple[int, int]:
    """(tokens computed, tokens a naive per-option forward pass would need) in one decision's
    `llm_stats`. Calibrated planners nest one stats dict per scoring pass; all are summed."""
    if not isinstance(stats, Mapping):
        return 0, 0
    computed = _amount(stats.get("tokens_computed"))
    naive = _amount(stats.get("tokens_naive"))
    for value in stats.values():
        if isinstance(value, Mapping):
            c, n = llm_tokens(value)
            computed, naive = computed + c, naive + n
    return computed, naive


def llm_calls(stats: Mapping[str, Any] | None) -> int:
    """Model calls in one decision's `llm_stats` (a scoring pass or a generation is one; nested
    dicts are summed, as for tokens). Older traces without counts give 0."""
    if not isinstance(stats, Mapping):
        return 0
    calls = _amount(stats.get("calls"))
    return calls + sum(llm_calls(v) for v in stats.values() if isinstance(v, Mapping))


def _amount(value: Any, kind: type = int) -> Any:
    """A recorded count or duration; anything else (a hand-edited trace) counts as 0."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return kind(value) if number and math.isfinite(value) and value > 0 else kind(0)


def decision_costs(decisions: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals over an episode's decisions (each with `seconds` and `llm_stats`)."""
    count, seconds, computed, naive, calls = 0, 0.0, 0, 0, 0
    for d in decisions:
        count += 1
        seconds += _amount(d.get("seconds"), float)
        c, n = llm_tokens(d.get("llm_stats"))
        computed, naive = computed + c, naive + n
        calls += llm_calls(d.get("llm_stats"))
    return {
        "decisions": count,
        "decision_s": round(seconds, 4),
        "s_per_decision": round(seconds / count, 4) if count else None,
        "llm_tokens": computed,
        "llm_tokens_naive": naive,
        "llm_calls": calls,
    }

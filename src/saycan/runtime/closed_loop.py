"""Closed-loop figures: per episode (feedback, disturbances, questions, coverage of
the prediction sets) and over a sweep (help rate, coverage, success with and without help)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from saycan.metrics import rate, wilson_interval
from saycan.planner.ask import right_call
from saycan.planner.loop import LoopOutcome
from saycan.planner.success import expert_progress


def closed_loop_stats(outcome: LoopOutcome, plan: list, feedback: str) -> dict[str, Any]:
    """Per-episode feedback, disturbance and ask-for-help figures for records and reports.
    Coverage counts the decisions taken while the robot was on the expert's track (every step
    so far was the plan's next call, or a failed attempt at it), where the right call is known."""
    questions = [
        s.decision.help for s in outcome.steps if s.decision.help and s.decision.help.get("asked")
    ]
    stats: dict[str, Any] = {
        "feedback": feedback,
        "disturbances": sum(len(s.disturbances) for s in outcome.steps),
        "detected_failures": sum(1 for s in outcome.steps if s.detected_success is False),
        "questions": len(questions),
    }
    helped = [s for s in outcome.steps if s.decision.help and "set" in s.decision.help]
    if helped:
        covered = on_track = 0
        for s in helped:
            history = outcome.history[: s.index]
            if not _on_track(plan, history):
                continue
            on_track += 1
            covered += right_call(plan, history).to_text() in s.decision.help["set"]
        stats.update(
            asked=bool(questions),
            help_decisions=len(helped),
            on_track_decisions=on_track,
            covered_decisions=covered,
            mean_set_size=round(sum(len(s.decision.help["set"]) for s in helped) / len(helped), 3),
        )
    return stats


def _on_track(plan: list, history: list) -> bool:
    for i, step in enumerate(history):
        k = expert_progress(plan, history[:i])
        if k >= len(plan) or step.call != plan[k]:
            return False
    return True


def help_summary(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Sweep-level ask-for-help figures (empty when no episode asked for help): empirical
    coverage of the prediction sets over on-track decisions, the share of episodes and of
    decisions with a question, and success of episodes with / without a question."""
    helped = [r for r in records if "help_decisions" in r]
    if not helped:
        return {}
    on_track = sum(r["on_track_decisions"] for r in helped)
    asked = [r for r in helped if r.get("questions")]
    return {
        "help": {
            "episodes": len(helped),
            "coverage": round(sum(r["covered_decisions"] for r in helped) / on_track, 4)
            if on_track
            else None,
            "on_track_decisions": on_track,
            "help_rate_episodes": round(len(asked) / len(helped), 4),
            "help_rate_decisions": round(
                sum(r["questions"] for r in helped)
                / max(sum(r["help_decisions"] for r in helped), 1),
                4,
            ),
            "mean_set_size": round(
                sum(r["mean_set_size"] * r["help_decisions"] for r in helped)
                / max(sum(r["help_decisions"] for r in helped), 1),
                3,
            ),
            "success_asked": rate(sum(bool(r["success"]) for r in asked), len(asked)),
            "success_not_asked": rate(
                sum(bool(r["success"]) for r in helped if not r.get("questions")),
                len(helped) - len(asked),
            ),
        }
    }


def gain_interval(successes_a: int, n_a: int, successes_b: int, n_b: int) -> dict[str, Any]:
    """Success gain of A over B with Newcombe's 95% interval for a difference of proportions
    (method 10: from the two Wilson intervals), e.g. feedback on (A) vs off (B)."""
    if not n_a or not n_b:
        raise ValueError("both arms need at least one episode")
    pa, pb = successes_a / n_a, successes_b / n_b
    (la, ua), (lb, ub) = wilson_interval(successes_a, n_a), wilson_interval(successes_b, n_b)
    d = pa - pb
    lo = d - ((pa - la) ** 2 + (ub - pb) ** 2) ** 0.5
    hi = d + ((ua - pa) ** 2 + (pb - lb) ** 2) ** 0.5
    return {"gain": round(d, 4), "ci95": [round(max(-1.0, lo), 4), round(min(1.0, hi), 4)]}

"""The SayCan decision rule: argmax over candidates of log p_LLM(option | prompt) + log V(call).

Affordances are recomputed for every decision from the current scene; candidates whose value is
below `prune_below` are not sent to the language model at all (they could never win), which
saves model work and is recorded in the trace as a null log-prob.

Scoring options (planner config group; the defaults leave the plain rule unchanged):
`normalize=mean` divides each option's summed log-prob by its token count (long calls are not
penalised for length); `done_bias` is added to `robot.done()`'s log-prob (a calibrated stopping
score: a small model under- or over-stops); `temperature` divides the LLM log-probs before they
are combined with log-affordances (T > 1 lets affordances weigh more); `similarity_weight`
adds that multiple of the sentence-embedding cosine between the instruction and each call's
words (not `done`); `rewriter` (planner.rewriting) scores every call again under other wordings
of the instruction and averages the log-probs. Order: normalise, mean over wordings, contextual
calibration, done bias, similarity, temperature; the trace records the final LLM term.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from saycan.errors import ConfigError, ScorerError
from saycan.perception.scene import SceneDescription
from saycan.planner.decision import CandidateScore, Decision
from saycan.planner.embedding import call_words
from saycan.planner.prompts import PromptBuilder
from saycan.planner.rewriting import InstructionRewriter, checked_rewriter, wordings
from saycan.planner.scorers.base import (
    CountsTokens,
    KeepsPromptCache,
    LanguageScorer,
    PinsPromptPrefix,
    ScorerStats,
    model_name,
    token_counts,
)
from saycan.planner.stepping import ScoreRequest, Steps, drive
from saycan.skills.affordances.base import AffordanceModel
from saycan.skills.base import SkillLibrary
from saycan.skills.done import DONE
from saycan.skills.types import SkillCall


def _log(p: float) -> float:
    return math.log(p) if p > 0 else -math.inf


class SayCanPlanner:
    """`use_llm` / `use_affordance` switch the two factors off for the `affordance_only` and
    `llm_only` ablations, so every baseline shares one code path and one trace format."""

    def __init__(
        self,
        scorer: LanguageScorer | None,
        affordance: AffordanceModel,
        skills: SkillLibrary,
        prompt: PromptBuilder,
        name: str = "saycan",
        use_llm: bool = True,
        use_affordance: bool = True,
        prune_below: float = 0.0,
        calibration: str = "none",
        content_free_instruction: str = "N/A",
        calibration_weight: float = 1.0,
        normalize: str = "sum",
        temperature: float = 1.0,
        done_bias: float = 0.0,
        similarity_weight: float = 0.0,
        embedder: object | None = None,
        rewriter: InstructionRewriter | None = None,
    ):
        if use_llm and scorer is None:
            raise ValueError("a planner that uses the LLM needs a scorer")
        self.scorer = scorer
        self.affordance = affordance
        self.skills = skills
        self.prompt = prompt
        self.name = name
        self.use_llm = use_llm
        self.use_affordance = use_affordance
        self.prune_below = float(prune_below)
        if calibration not in ("none", "contextual"):
            raise ValueError(f"calibration must be 'none' or 'contextual', got {calibration!r}")
        self.calibration = calibration
        self.content_free_instruction = content_free_instruction
        self.calibration_weight = float(calibration_weight)
        if normalize not in ("sum", "mean"):
            raise ConfigError(f"planner.normalize must be 'sum' or 'mean', got {normalize!r}")
        if (
            normalize == "mean"
            and use_llm
            and not (isinstance(scorer, CountsTokens) and scorer.counts_tokens())
        ):
            # refused here, not at the first decision of a sweep's first episode
            raise ConfigError(
                f"planner.normalize=mean needs per-option token counts, and {model_name(scorer)} "
                "reports none (a scorer declares them with the CountsTokens protocol; an "
                "ensemble's members tokenise differently); use normalize=sum"
            )
        if not float(temperature) > 0 or not math.isfinite(float(temperature)):
            raise ConfigError(f"planner.temperature must be a positive number, got {temperature!r}")
        if not math.isfinite(float(done_bias)):
            raise ConfigError(f"planner.done_bias must be finite, got {done_bias!r}")
        self.normalize = normalize
        self.temperature = float(temperature)
        self.done_bias = float(done_bias)
        if not math.isfinite(float(similarity_weight)):
            raise ConfigError(
                f"planner.similarity_weight must be finite, got {similarity_weight!r}"
            )
        if float(similarity_weight) and embedder is None:
            raise ConfigError(
                "planner.similarity_weight needs planner.embedder (a sentence embedder)"
            )
        self.similarity_weight = float(similarity_weight)
        self.embedder = embedder
        self.rewriter = checked_rewriter(rewriter)
        self._rng = np.random.default_rng(0)

    def reset(self, rng: np.random.Generator, task: object | None = None) -> None:
        """Start an episode; `rng` breaks ties reproducibly. The scorer's kept prompt cache is
        dropped too: a cached prefix changes scores in the last float digits, and an episode's
        result must not depend on which episode ran before it in a sweep."""
        self._rng = rng
        if isinstance(self.scorer, KeepsPromptCache):
            self.scorer.reset_cache()
        if isinstance(self.scorer, PinsPromptPrefix):  # few-shot examples: computed once
            self.scorer.pin_prefix(self.prompt.prefix)

    def decide(
        self, instruction: str, scene: SceneDescription, history: Sequence[SkillCall]
    ) -> Decision:
        return drive(self.decide_steps(instruction, scene, history))

    def decide_steps(
        self, instruction: str, scene: SceneDescription, history: Sequence[SkillCall]
    ) -> Steps[Decision]:
        """The decision, yielding its scoring requests (`planner.stepping`): one episode scores
        them at once, a lockstep sweep batches them with other episodes'."""
        start = time.perf_counter()
        calls = self.skills.candidates(scene)
        values = np.array([self.affordance.value(c, scene) for c in calls], dtype=float)
        prompt = self.prompt.build(instruction, scene, history)
        said = wordings(instruction, self.rewriter) if self.use_llm else [instruction]
        logps = np.full(len(calls), math.nan)
        stats: dict = {}
        if self.use_llm:
            keep = [i for i, c in enumerate(calls) if self._worth_scoring(c, values[i])]
            texts = [calls[i].to_text() for i in keep]
            is_done = [calls[i] == DONE for i in keep]
            scores = self._normalised((yield ScoreRequest(self.scorer, prompt, texts)))
            passes = {"scoring": _stats_dict(self.scorer)}
            if len(said) > 1:  # mean log-prob over the wordings: no one wording decides alone
                per_wording = [scores]
                for i, wording in enumerate(said[1:], start=1):
                    reworded = self.prompt.build(wording, scene, history)
                    request = ScoreRequest(self.scorer, reworded, texts)
                    per_wording.append(self._normalised((yield request)))
                    passes[f"rewrite_{i}"] = _stats_dict(self.scorer)
                scores = np.mean(per_wording, axis=0)
            if self.calibration == "contextual":
                prior_prompt = self.prompt.build(self.content_free_instruction, scene, history)
                prior = self._normalised((yield ScoreRequest(self.scorer, prior_prompt, texts)))
                passes["calibration"] = _stats_dict(self.scorer)
                scores = scores - self.calibration_weight * _zero_mean_bias(prior, is_done)
            stats = passes if len(passes) > 1 else passes["scoring"]
            if self.done_bias:
                scores = scores + self.done_bias * np.asarray(is_done, dtype=float)
            if self.similarity_weight:
                scores = scores + self.similarity_weight * self._similarity(
                    instruction, texts, is_done
                )
            logps[keep] = scores / self.temperature if self.temperature != 1.0 else scores
        combined = np.array(
            [
                (logps[i] if self.use_llm else 0.0)
                + (_log(values[i]) if self.use_affordance else 0.0)
                for i in range(len(calls))
            ]
        )
        combined = np.where(np.isnan(combined), -math.inf, combined)
        chosen = self._argmax(calls, combined)
        scored = set(keep) if self.use_llm else set(range(len(calls)))
        candidates = tuple(
            CandidateScore(
                c, float(logps[i]), float(values[i]), float(combined[i]), i not in scored
            )
            for i, c in enumerate(calls)
        )
        seconds = time.perf_counter() - start
        return Decision(
            prompt, candidates, chosen, self.name, seconds, stats, rewrites=tuple(said[1:])
        )

    def _similarity(
        self, instruction: str, texts: Sequence[str], is_done: Sequence[bool]
    ) -> np.ndarray:
        """Cosine similarity of each call's words to the instruction's (sentence embeddings);
        0 for `done`, whose words never resemble an instruction."""
        vectors = self.embedder.encode([instruction, *(call_words(t) for t in texts)])
        sims = vectors[1:] @ vectors[0]
        return np.where(np.asarray(is_done, dtype=bool), 0.0, sims).astype(float)

    def _normalised(self, scores: object) -> np.ndarray:
        """Summed log-probs as given, or per token (`normalize=mean`, needs the scorer's counts)."""
        scores = np.asarray(scores, dtype=float)
        if self.normalize == "sum":
            return scores
        counts = token_counts(self.scorer, len(scores))
        if counts is None:
            raise ScorerError(
                f"planner.normalize=mean needs per-option token counts, and {self.scorer.name} "
                "reports none (last_token_counts)"
            )
        return scores / np.maximum(np.asarray(counts, dtype=float), 1.0)

    def _worth_scoring(self, call: SkillCall, value: float) -> bool:
        """Only calls that could win are sent to the LLM; `done` always is."""
        if call == DONE or not self.use_affordance:
            return True
        return value > 0 and value >= self.prune_below

    def _argmax(self, calls: Sequence[SkillCall], combined: np.ndarray) -> SkillCall:
        """Best call; ties broken by the episode's rng; `done` when nothing is feasible."""
        if not np.isfinite(combined).any():
            return DONE
        best = np.flatnonzero(combined == combined.max())
        return calls[int(best[0] if len(best) == 1 else self._rng.choice(best))]


def _zero_mean_bias(prior: np.ndarray, is_done: Sequence[bool]) -> np.ndarray:
    """Contextual calibration (Zhao et al. 2021, "Calibrate Before Use"): the model's preference
    among skill calls given a content-free instruction is its bias (a tiny model favours the
    first object listed). Subtract it, centred over the non-`done` calls so that the mass left
    for `done` is unchanged; `done` itself is not corrected."""
    bias = np.zeros_like(prior)
    mask = ~np.asarray(is_done, dtype=bool)
    if mask.any():
        bias[mask] = prior[mask] - prior[mask].mean()
    return bias


def _stats_dict(scorer: object) -> dict:
    stats = getattr(scorer, "stats", None)
    if stats is None:
        return {}
    if isinstance(stats, ScorerStats):
        return stats.to_dict()
    return dict(getattr(stats, "__dict__", {}))

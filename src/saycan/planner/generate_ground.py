"""Generate, then ground (Huang et al. 2022, "Language Models as Zero-Shot Planners"): the
model writes the next step as free text, and the step is mapped to an admissible skill call.

One decision: the few-shot prompt (example plans, the scene, the instruction, the steps so far)
is continued greedily up to `stop` (a newline: one step) or `max_new_tokens`. The text is then
grounded among the admissible calls:

* `mapping=embedding` (the paper's translation model, here the packaged all-MiniLM-L6-v2): the
  call whose words have the highest cosine similarity to the generated text's words;
* `mapping=logprob`: a call the model wrote verbatim wins; otherwise the call with the highest
  log p(call | prompt) from the scorer (one extra scoring pass).

Affordances veto, as SayCan prunes: a call whose affordance is 0 or below `veto_below` is not
admissible (`done` always is), so the step can only become a feasible call. They do not
re-weight the admissible calls: the paper grounds by meaning alone, and a weight would make
this family a variant of SayCan's product rule rather than a family of its own. With
`min_score` set, a best score below it means the text matched nothing, and the robot stops (the
paper's early termination); so does an empty line, which ends a plan in the few-shot
examples. The grounded call goes into the next prompt's history, so the model
continues from admissible steps (the paper's "translated" LM).

The trace records the generated text, why it stopped, the mapping, and each candidate's
mapping score (its `combined`); `llm_stats` records one generation call and its tokens (plus the
scoring pass with `mapping=logprob`), which the episode costs sum as calls and tokens.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from saycan.errors import ConfigError
from saycan.perception.scene import SceneDescription
from saycan.planner.decision import CandidateScore, Decision
from saycan.planner.embedding import call_words
from saycan.planner.generation import Generation, ScoresToo, TextGenerator
from saycan.planner.prompts import PromptBuilder
from saycan.planner.scorers.base import KeepsPromptCache, LanguageScorer
from saycan.skills.affordances.base import AffordanceModel
from saycan.skills.base import SkillLibrary
from saycan.skills.done import DONE
from saycan.skills.types import SkillCall

MAPPINGS = ("embedding", "logprob")


class GenerateGroundPlanner:
    """A `Planner` whose model writes each step; see the module docstring."""

    def __init__(
        self,
        generator: TextGenerator,
        affordance: AffordanceModel,
        skills: SkillLibrary,
        prompt: PromptBuilder,
        mapping: str = "embedding",
        embedder: object | None = None,
        scorer: LanguageScorer | None = None,
        veto: bool = True,
        veto_below: float = 0.0,
        max_new_tokens: int = 32,
        stop: Sequence[str] = ("\n",),
        min_score: float | None = None,
        name: str = "generate_ground",
    ):
        if not isinstance(generator, TextGenerator):
            raise ConfigError(
                f"planner.generator must be a text generator, got {type(generator).__name__}"
            )
        if mapping not in MAPPINGS:
            raise ConfigError(
                f"planner.mapping must be one of {', '.join(MAPPINGS)}, got {mapping!r}"
            )
        if mapping == "embedding" and embedder is None:
            raise ConfigError(
                "planner.mapping=embedding needs planner.embedder (a sentence embedder)"
            )
        if scorer is None and isinstance(generator, ScoresToo):
            scorer = generator.scorer  # the generator's own model: loaded once, named in records
        if mapping == "logprob" and not isinstance(scorer, LanguageScorer):
            raise ConfigError("planner.mapping=logprob needs planner.scorer (a language scorer)")
        if (
            isinstance(max_new_tokens, bool)
            or not isinstance(max_new_tokens, int)
            or max_new_tokens < 1
        ):
            raise ConfigError(
                f"planner.max_new_tokens must be an integer >= 1, got {max_new_tokens!r}"
            )
        if not math.isfinite(float(veto_below)):  # nan would veto every call, silently
            raise ConfigError(f"planner.veto_below must be a finite number, got {veto_below!r}")
        if min_score is not None and not math.isfinite(float(min_score)):
            raise ConfigError(
                f"planner.min_score must be a finite number or null, got {min_score!r}"
            )
        self.generator = generator
        self.affordance = affordance
        self.skills = skills
        self.prompt = prompt
        self.mapping = mapping
        self.embedder = embedder
        self.scorer = scorer
        self.veto = bool(veto)
        self.veto_below = float(veto_below)
        self.max_new_tokens = max_new_tokens
        self.stop = tuple([stop] if isinstance(stop, str) else stop)
        self.min_score = None if min_score is None else float(min_score)
        self.name = name
        self._rng = np.random.default_rng(0)

    def reset(self, rng: np.random.Generator, task: object | None = None) -> None:
        """Start an episode: the episode's rng breaks ties; kept prompt caches are dropped so a
        result never depends on the episode before it."""
        self._rng = rng
        for model in {id(m): m for m in (self.generator, self.scorer)}.values():
            if isinstance(model, KeepsPromptCache):
                model.reset_cache()

    def decide(
        self, instruction: str, scene: SceneDescription, history: Sequence[SkillCall]
    ) -> Decision:
        start = time.perf_counter()
        calls = self.skills.candidates(scene)
        values = np.array([self.affordance.value(c, scene) for c in calls], dtype=float)
        admissible = [i for i, c in enumerate(calls) if self._admissible(c, values[i])]
        prompt = self.prompt.build(instruction, scene, history)
        gen = self.generator.generate(prompt, max_new_tokens=self.max_new_tokens, stop=self.stop)
        step = gen.text.strip()
        stats: dict = {"generation": _generation_stats(gen)}
        scores = np.full(len(calls), -math.inf)
        logps = np.full(len(calls), math.nan)
        texts = [calls[i].to_text() for i in admissible]
        exact = step in texts
        if self.mapping == "embedding":
            vectors = self.embedder.encode([call_words(step), *(call_words(t) for t in texts)])
            scores[admissible] = vectors[1:] @ vectors[0] if texts else []
        elif exact:
            scores[admissible] = [0.0 if t == step else -math.inf for t in texts]
        else:
            logps[admissible] = self.scorer.score(prompt, texts)
            scores[admissible] = logps[admissible]
            stats["mapping"] = self.scorer.stats.to_dict()
        # a nan (a backend's failed score) ranks below every score, never crashes the choice
        scores = np.where(np.isnan(scores), -math.inf, scores)
        chosen = self._argmax(calls, scores)
        matched = chosen != DONE or step == DONE.to_text()
        if not step or (
            self.min_score is not None and scores.max(initial=-math.inf) < self.min_score
        ):
            chosen, matched = DONE, False
        candidates = tuple(
            CandidateScore(
                c, float(logps[i]), float(values[i]), float(scores[i]), i not in admissible
            )
            for i, c in enumerate(calls)
        )
        generation = {**gen.to_dict(), "mapping": self.mapping, "exact": exact, "matched": matched}
        return Decision(
            prompt,
            candidates,
            chosen,
            self.name,
            time.perf_counter() - start,
            stats,
            generation=generation,
        )

    def _admissible(self, call: SkillCall, value: float) -> bool:
        """`done` always; any other call unless its affordance vetoes it."""
        return call == DONE or not self.veto or (value > 0 and value >= self.veto_below)

    def _argmax(self, calls: Sequence[SkillCall], scores: np.ndarray) -> SkillCall:
        """Best admissible call; ties broken by the episode's rng; `done` when none is."""
        if not np.isfinite(scores).any():
            return DONE
        best = np.flatnonzero(scores == scores.max())
        return calls[int(best[0] if len(best) == 1 else self._rng.choice(best))]


def _generation_stats(gen: Generation) -> dict:
    """One model call and what it ran, in the keys the episode costs sum (runtime/costs.py)."""
    return {
        "calls": 1,
        "tokens_computed": gen.tokens,
        "prompt_tokens": gen.prompt_tokens,
        "generated_tokens": gen.generated_tokens,
        "seconds": round(gen.seconds, 4),
    }


__all__ = ["MAPPINGS", "GenerateGroundPlanner"]

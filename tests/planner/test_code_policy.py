"""planner=code_policy: programs run in the project's sandbox, one skill call at a time, through
the real loop (mock robot behind the real safety gate). The hostile-program catalogue: each
program is refused with a one-line reason and no motion command reaches the robot.

The generator is scripted (a test double returning fixed program text): the sandbox, the
planner and the loop are the real ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from saycan.drivers.mock import MockDriver
from saycan.errors import ConfigError
from saycan.eval.viewer import write_episode_html
from saycan.perception.oracle import OraclePerception
from saycan.planner.code_policy import CodePolicyPlanner
from saycan.planner.generation import Generation
from saycan.planner.loop import PhysicsExecutor, run_loop
from saycan.planner.prompts import PromptBuilder
from saycan.planner.success import SceneSuccessDetector
from saycan.runtime.components import Components
from saycan.runtime.episode import run_episode
from saycan.sim.scene_spec import ObjectSpec
from saycan.skills.affordances import AnalyticAffordance
from saycan.skills.base import SkillLibrary
from saycan.skills.done import DONE, Done
from saycan.skills.pick_and_place import PickAndPlace
from saycan.skills.safety import SafetyGate
from saycan.skills.types import SkillCall


class ScriptedGenerator:
    """Returns the scripted programs in order (the last one again when they run out)."""

    name = "scripted"

    def __init__(self, *programs: str):
        self.programs = list(programs)
        self.prompts: list[str] = []

    def generate(self, prompt, *, max_new_tokens, stop=()):
        self.prompts.append(prompt)
        text = self.programs[min(len(self.prompts), len(self.programs)) - 1]
        return Generation(
            text,
            prompt_tokens=len(prompt) // 4,
            generated_tokens=len(text) // 4,
            stopped_by="stop",
            seconds=0.0,
        )


SCENE = [
    ObjectSpec("red block", "block", "red", (0.45, 0.12)),
    ObjectSpec("green block", "block", "green", (0.40, -0.05)),
    ObjectSpec("blue bowl", "bowl", "blue", (0.55, -0.12)),
]


def make_planner(*programs: str, **kw) -> CodePolicyPlanner:
    return CodePolicyPlanner(
        ScriptedGenerator(*programs),
        AnalyticAffordance(),
        SkillLibrary([PickAndPlace(), Done()]),
        PromptBuilder(),
        **kw,
    )


def run(planner: CodePolicyPlanner, max_steps: int = 6):
    """The real loop over a mock robot behind the safety gate; returns (outcome, safe driver)."""
    gate = SafetyGate()
    driver = gate.wrap_driver(MockDriver(SCENE))
    driver.connect()
    executor = gate.wrap_executor(PhysicsExecutor(planner.skills))
    planner.reset(np.random.default_rng(0))
    outcome = run_loop(
        "put the blocks in the blue bowl",
        driver,
        OraclePerception(),
        planner,
        executor,
        max_steps,
        success_detector=SceneSuccessDetector(),
    )
    return outcome, driver


def test_a_program_runs_one_call_per_decision_and_queries_the_new_scene():
    program = (
        "for b in blocks():\n"
        "    if not is_in(b, 'blue bowl'):\n"
        "        pick_and_place(b, 'blue bowl')\n"
        "done()"
    )
    outcome, driver = run(make_planner(program))
    assert outcome.plan == [
        SkillCall("pick_and_place", ("red block", "blue bowl")),
        SkillCall("pick_and_place", ("green block", "blue bowl")),
        DONE,
    ]
    assert all(s.detected_success for s in outcome.steps[:2])
    first = outcome.steps[0].decision
    assert first.generation["program"] == program and first.generation["status"] == "accepted"
    assert first.llm_stats["calls"] == 1 and outcome.steps[1].decision.llm_stats == {}
    assert driver.motion.commands_sent > 0


def test_a_vetoed_call_ends_the_program_and_a_new_one_is_written():
    # the green block is covered by the red one: picking it is vetoed by the affordance
    covered = (
        "pick_and_place('red block', 'green block')\n"
        "pick_and_place('green block', 'blue bowl')\n"
        "done()"
    )
    fixed = "pick_and_place('red block', 'blue bowl')\ndone()"
    planner = make_planner(covered, fixed)
    outcome, _ = run(planner)
    assert outcome.plan[0] == SkillCall("pick_and_place", ("red block", "green block"))
    second = outcome.steps[1].decision
    assert any("affordance vetoes" in e for e in second.generation["events"])
    assert second.generation["program"] == fixed and second.chosen.args == (
        "red block",
        "blue bowl",
    )
    assert "# done: pick_and_place('red block', 'green block')" in planner.generator.prompts[1]
    assert outcome.plan[-1] == DONE and len(planner.generator.prompts) == 2


def test_a_call_the_dry_run_never_saw_is_refused_in_the_real_run_not_sent():
    """The dry run reads the scene as it was; after the first call the program takes another
    branch and names a place that does not exist: the program ends loudly, the robot gets
    no such call, and the next program is written."""
    diverging = (
        "pick_and_place('red block', 'blue bowl')\n"
        "if is_in('red block', 'blue bowl'):\n"
        "    pick_and_place('green block', 'the moon')\n"
        "done()"
    )
    planner = make_planner(diverging, "done()")
    outcome, _ = run(planner)
    assert outcome.plan == [SkillCall("pick_and_place", ("red block", "blue bowl")), DONE]
    assert outcome.steps[0].decision.generation["planned"] == [
        "pick_and_place('red block', 'blue bowl')"
    ]
    events = outcome.steps[1].decision.generation["events"]
    assert "pick_and_place('green block', 'the moon') is not a call the robot can make" in events[0]
    assert len(planner.generator.prompts) == 2


def test_the_planner_needs_a_generator_and_sane_bounds():
    with pytest.raises(ConfigError, match="text generator"):
        CodePolicyPlanner(object(), AnalyticAffordance(), SkillLibrary([Done()]), PromptBuilder())
    with pytest.raises(ConfigError, match="limits"):
        make_planner("done()", limits={"max_stepz": 3})
    with pytest.raises(ConfigError, match="max_steps must be a whole number"):
        make_planner("done()", limits={"max_steps": "lots"})
    with pytest.raises(ConfigError, match="min_affordance must be finite"):
        make_planner("done()", min_affordance=float("nan"))


def test_code_policy_solves_a_task_end_to_end_from_its_config(tmp_path: Path):
    """The packaged config (prompt, API docs) with a scripted generator, on a sampled task."""
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(
            "eval",
            overrides=[
                "robot=mock",
                "planner=oracle",
                "executor=teleport",
                "task=put_block_in_bowl",
            ],
        )
        code_cfg = compose("eval", overrides=["planner=code_policy"]).planner
    components = Components(cfg)
    try:
        seed = 100000
        from saycan.sim.tasks import Task

        instance = Task("put_block_in_bowl").sample(np.random.default_rng(seed))
        obj, bowl = instance.bindings["A"], instance.bindings["B"]  # the task's roles
        generator = ScriptedGenerator(f"pick_and_place('{obj}', '{bowl}')\ndone()")
        components.planner = instantiate(
            code_cfg,
            generator=generator,
            affordance=components.affordance,
            skills=components.skills,
        )
        result = run_episode(
            components, "put_block_in_bowl", seed, tmp_path, video=False, frames=False
        )
    finally:
        components.close()
    assert result.success and result.planner == "code_policy"
    assert "# pick_and_place(obj, target)" in generator.prompts[0]
    assert "for b in blocks():" in generator.prompts[0]  # the few-shot examples
    trace = [json.loads(line) for line in Path(result.trace).read_text().splitlines()]
    assert trace[0]["generation"]["program"].startswith("pick_and_place(")
    assert result.extras["llm_tokens"] > 0 and result.extras["llm_calls"] == 1
    page = write_episode_html(tmp_path).read_text()
    assert "program accepted" in page and "pick_and_place(&#x27;" in page


# -- the hostile-program catalogue -------------------------------------------------------------
HOSTILE: list[tuple[str, str]] = [
    ("import os", "imports are not allowed"),
    ("from os import system\nsystem('ls')", "imports are not allowed"),
    ("__import__('os').system('ls')", "attribute access"),
    ("x = __import__('os')", "`__import__` is not a function"),
    ("x = ().__class__.__bases__[0].__subclasses__()", "attribute access"),
    ("x = objects().__class__", "attribute access"),
    ("x = colour('red block').format", "attribute access"),
    ("open('/etc/passwd')", "`open` is not a function of the robot API"),
    ("x = getattr(objects(), 'append')", "`getattr` is not a function"),
    ("x = globals()", "`globals` is not a function"),
    ("x = locals()", "`locals` is not a function"),
    ("eval('1+1')", "`eval` is not a function"),
    ("exec('import os')", "`exec` is not a function"),
    ("x = compile('1', 'f', 'eval')", "`compile` is not a function"),
    ("x = type(objects())", "`type` is not a function"),
    ("launch_missiles()", "`launch_missiles` is not a function"),
    ("while True:\n    pass", "`while` loops are not allowed"),
    ("while True:\n    pick_and_place('red block', 'blue bowl')", "`while` loops are not allowed"),
    ("for i in range(1000000000):\n    pass", "range() of 1000000000 items"),
    ("for i in range(999):\n    for j in range(999):\n        pass", "ran more than 20000 steps"),
    ("x = 'a' * 1000000000", "multiplying text or lists"),
    ("x = objects() * 100000", "`Mult` needs two numbers"),
    ("s = 'aaaaaaaaaa'\nfor i in range(100):\n    s = s + s", "longer than 1000 items"),
    ("x = 2 ** 100000", "`**` is not allowed"),
    ("x = 1\nfor i in range(200):\n    x = x * 1000", "out of range"),
    ("x = f'{objects()!r:>{10}}'", "f-strings are not allowed"),
    ("x = '%s' % objects()", "needs two numbers"),
    ("print(*objects())", "not a function of the robot API"),
    ("pick_and_place(*['red block', 'blue bowl'])", "starred expressions"),
    ("pick_and_place(obj='red block', target='blue bowl')", "keyword arguments"),
    ("f = lambda: pick_and_place('red block', 'blue bowl')", "lambdas are not allowed"),
    ("def f():\n    f()\nf()", "defining functions"),
    ("class A:\n    pass", "defining classes"),
    ("x = [b for b in blocks()]", "comprehensions are not allowed"),
    ("try:\n    pass\nexcept Exception:\n    pass", "`try` is not allowed"),
    ("with open('x') as f:\n    pass", "`with` is not allowed"),
    (
        "pick_and_place(pick_and_place('red block', 'blue bowl'), 'blue bowl')",
        "must be a statement of its own",
    ),
    ("x = position(position(position('red block')))", "no object named"),
    ("pick_and_place('red block', 'blue bowl')\nx = 'a' + 5", "`Add` needs two numbers"),
    ("pick_and_place('red block', 'the moon')", "not a call the robot can make"),
    ("_x = 1", "starting with `_`"),
    ("objects = 5", "part of the robot API"),
    ("x = blocks()\nx[0] = 'blue bowl'", "only plain names can be assigned"),
    ("x = 1\ndel x", "`del` is not allowed"),
    ("x = {'a': 1}", "dicts are not allowed"),
    ("x = {1, 2}", "sets are not allowed"),
    ("if (n := len(objects())):\n    pass", "`:=` is not allowed"),
    ("global x", "`global` is not allowed"),
    ("raise SystemExit", "`raise` is not allowed"),
    ("assert False", "`assert` is not allowed"),
    ("x = blocks()[::-1]", "slices are not allowed"),
    ("x = " + "[" * 40 + "]" * 40, "nests deeper"),
    ("x = " + "(" * 300 + "1" + ")" * 300, "nested parentheses"),
    ("pass\n" * 1000, "characters long"),
    ("x = b'bytes'", "bytes literals"),
    ("x = 1e308 * 10", "out of range"),
    (
        "for i in range(25):\n    pick_and_place('red block', 'blue bowl')",
        "more than 20 skill calls",
    ),
    ("for x in 5:\n    pass", "runs over a list or a range"),
    ("pick_and_place('red block', 'blue bowl')\0", "not valid Python"),
    ("x = 1\0\ndone()", "not valid Python"),
    ("pick_and_place('red block',", "not valid Python"),
    ("x = 1 if objects().pop() else 2", "attribute access"),
    ("x = yield_ = (yield 1)", "`yield` is not allowed"),
    ("async def f():\n    pass", "defining functions"),
    ("", "the program is empty"),
    ("x = 10 // 0", "ZeroDivisionError"),
    ("pick_and_place('red block', 3)", "takes names (text)"),
    ("x = range", "is a function; call it"),
    ("x = 1\nx //= 0", "ZeroDivisionError"),
    ("x = 'a'\nx -= 1", "`Sub` needs two numbers"),
    ("for i in range(3):\n    pass\nbreak", "outside a loop"),
    (
        "a = []\nb = []\n" + "for i in range(900):\n    a = [a]\n    b = [b]\n" * 2 + "c = a == b",
        "RecursionError",
    ),
    # shared references double a value each line: comparing or printing it would never end
    (
        "a = [1]\nb = [1]\nfor i in range(60):\n    a = [a, a]\n    b = [b, b]\nc = a == b",
        "more than 4000 items and characters",
    ),
    (
        "a = ['red block']\nfor i in range(60):\n    a = [a, a]\nx = position(a)",
        "more than 4000 items and characters",
    ),
    (
        "a = blocks()\nfor i in range(40):\n    a = a + [a]\nx = sorted([a, a + []])",
        "more than 4000 items and characters",
    ),
]


@pytest.mark.parametrize(
    "program,reason", HOSTILE, ids=[f"hostile{i:02d}" for i in range(len(HOSTILE))]
)
def test_a_hostile_program_is_refused_and_nothing_moves(program: str, reason: str):
    planner = make_planner(program)
    outcome, driver = run(planner)
    assert outcome.plan == [DONE] and outcome.stopped_by == "done"
    written = outcome.steps[0].decision.generation
    assert written["status"] == "refused", written
    assert reason in written["reason"] and "\n" not in written["reason"], written["reason"]
    assert "line None" not in written["reason"]
    assert driver.motion.commands_sent == 0 and driver.get_observation().step == 0
    states = {s.name: s.position for s in driver.ground_truth()}
    assert states == {s.name: s.position for s in MockDriver(SCENE).ground_truth()}


def test_nesting_past_pythons_own_limit_is_refused_even_with_the_depth_limit_raised():
    limits = {"max_depth": 10**6, "max_nodes": 10**6}
    outcome, driver = run(make_planner("x = " + "-" * 1200 + "1\ndone()", limits=limits))
    written = outcome.steps[0].decision.generation
    assert written["status"] == "refused" and "nests too deeply" in written["reason"]
    assert driver.motion.commands_sent == 0


def test_the_catalogue_is_large_and_varied():
    assert len(HOSTILE) >= 30 and len({p for p, _ in HOSTILE}) == len(HOSTILE)


@pytest.mark.slow
def test_code_policy_with_the_packaged_model(tmp_path: Path):
    """The bare packaged SmolLM2-135M writes the program (greedy, few-shot prompt) for a
    one-step task; the sandbox runs it. (It does not always: docs/planners.md, code_policy.)"""
    with initialize_config_module("saycan.configs", version_base="1.3"):
        cfg = compose(
            "eval",
            overrides=[
                "robot=mock",
                "planner=code_policy",
                "executor=teleport",
                "task=move_block_between_bowls",
                "llm=smollm2",
            ],
        )
    components = Components(cfg)
    try:
        result = run_episode(
            components, "move_block_between_bowls", 100000, tmp_path, video=False, frames=False
        )
    finally:
        components.close()
    trace = [json.loads(line) for line in Path(result.trace).read_text().splitlines()]
    assert trace[0]["generation"]["status"] == "accepted", trace[0]["generation"]
    assert trace[0]["generation"]["program"] == "pick_and_place('red block', 'green bowl')\ndone()"
    assert result.success, (trace[0]["generation"], result.plan)

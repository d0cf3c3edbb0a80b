"""The prompt-feedback contract: feedback lines after each step, byte-identical when off."""

import pytest
from hydra import compose, initialize_config_module
from hydra.utils import instantiate

from saycan.errors import ConfigError
from saycan.perception.scene import Relation, SceneDescription, SceneObject
from saycan.planner.prompts import HistoryStep, PromptBuilder
from saycan.skills.types import SkillCall

SCENE = SceneDescription(
    (
        SceneObject("red block", "block", "red", (0.5, 0.0, 0.02)),
        SceneObject("blue bowl", "bowl", "blue", (0.4, 0.1, 0.02)),
    )
)
AFTER = SceneDescription(SCENE.objects, (Relation("red block", "in", "blue bowl"),))
CALL = SkillCall("pick_and_place", ("red block", "blue bowl"))
EXAMPLES = [{"objects": ["a block"], "instruction": "do it", "steps": ["robot.done()"]}]


def _open_loop(builder: PromptBuilder) -> str:
    return builder.build("put the red block in the blue bowl", SCENE, [CALL, CALL])


def test_feedback_none_is_byte_identical_to_the_open_loop_prompt():
    builder = PromptBuilder(EXAMPLES)
    expected = (
        "objects = [a block]\n# do it\nrobot.done()\n\n"
        "objects = [red block, blue bowl]\n# put the red block in the blue bowl\n"
        "robot.pick_and_place(red block, blue bowl)\nrobot.pick_and_place(red block, blue bowl)\n"
    )
    assert _open_loop(builder) == expected
    steps = [HistoryStep(CALL, False, AFTER), HistoryStep(CALL, True, AFTER)]
    assert builder.build("put the red block in the blue bowl", SCENE, steps) == expected


def test_packaged_prompt_with_feedback_none_matches_plain_calls():
    """The packaged few-shot prompt (what score caches and adapters were built on) is unchanged."""
    with initialize_config_module(config_module="saycan.configs", version_base=None):
        cfg = compose(config_name="config")
    builder = instantiate(cfg.prompt)
    assert builder.feedback == "none"
    steps = [HistoryStep(CALL, False, AFTER), HistoryStep(CALL, True, AFTER)]
    assert builder.build("x", SCENE, steps) == _open_loop_with(builder, "x")
    assert builder.build("x", SCENE, steps).endswith(
        "# x\nrobot.pick_and_place(red block, blue bowl)\nrobot.pick_and_place(red block, blue "
        "bowl)\n"
    )


def _open_loop_with(builder: PromptBuilder, instruction: str) -> str:
    return builder.build(instruction, SCENE, [CALL, CALL])


def test_success_feedback_follows_each_call():
    builder = PromptBuilder(feedback="success")
    steps = [HistoryStep(CALL, False, AFTER), HistoryStep(CALL, True, AFTER), HistoryStep(CALL)]
    assert builder.build("go", SCENE, steps) == (
        "objects = [red block, blue bowl]\n# go\n"
        "robot.pick_and_place(red block, blue bowl)\n# Success: no\n"
        "robot.pick_and_place(red block, blue bowl)\n# Success: yes\n"
        "robot.pick_and_place(red block, blue bowl)\n"
    )
    assert builder.build("go", SCENE, [CALL]) == "objects = [red block, blue bowl]\n# go\n" + (
        "robot.pick_and_place(red block, blue bowl)\n"
    )


def test_success_scene_feedback_renders_the_perceived_scene():
    saycan = PromptBuilder(feedback="success_scene")
    assert saycan.build("go", SCENE, [HistoryStep(CALL, True, AFTER)]).endswith(
        "robot.pick_and_place(red block, blue bowl)\n# Success: yes\n"
        "# Scene: objects = [red block, blue bowl]\n"
    )
    rich = PromptBuilder(feedback="success_scene", scene_format="rich")
    assert rich.build("go", SCENE, [HistoryStep(CALL, False, AFTER)]).endswith(
        "robot.pick_and_place(red block, blue bowl)\n# Success: no\n"
        "# Scene: objects = [red block, blue bowl]\n"
        "# relations = [red block in blue bowl]\n# holding = nothing\n"
    )


def test_unknown_feedback_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="prompt.feedback"):
        PromptBuilder(feedback="yes please")


def test_feedback_prompt_config_shows_a_retry():
    with initialize_config_module(config_module="saycan.configs", version_base=None):
        cfg = compose(config_name="config", overrides=["prompt=code_fewshot_feedback"])
    builder = instantiate(cfg.prompt)
    assert builder.feedback == "success"
    assert (
        "# Success: no\nrobot.pick_and_place(orange block, green block)\n# Success: yes"
        in builder.prefix
    )

import pytest

from saycan.errors import InstructionError
from saycan.perception.scene import SceneDescription, SceneObject
from saycan.planner.prompts import PromptBuilder, clean_instruction


def test_prompt_layout_matches_the_code_style():
    builder = PromptBuilder(
        examples=[{"objects": ["a block"], "instruction": "do it", "steps": ["robot.done()"]}]
    )
    scene = SceneDescription((SceneObject("red block", "block", "red", (0.5, 0, 0.02)),))
    prompt = builder.build("put the red block in the middle", scene)
    assert prompt == (
        "objects = [a block]\n# do it\nrobot.done()\n\n"
        "objects = [red block]\n# put the red block in the middle\n"
    )
    assert prompt.startswith(builder.prefix)


@pytest.mark.parametrize("bad", ["", "   ", "\n\t", "x" * 301, "put\x00 it", None, 3])
def test_bad_instructions_are_refused_with_a_typed_error(bad):
    with pytest.raises(InstructionError):
        clean_instruction(bad)


def test_instruction_whitespace_is_normalised():
    assert (
        clean_instruction("  put the  red block\nin the bowl ") == "put the red block in the bowl"
    )

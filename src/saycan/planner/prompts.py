"""Few-shot prompts in the SayCan notebook's code style.

The template is data (the `planner` config group holds the examples); the prompt ends with a
newline so every option starts a fresh line and token boundaries stay clean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from saycan.perception.scene import SceneDescription, TextFormat
from saycan.skills.types import SkillCall

#: Characters an instruction may not contain (control characters would break the prompt layout).
MAX_INSTRUCTION_CHARS = 300


@dataclass(frozen=True)
class FewShotExample:
    objects: Sequence[str]
    instruction: str
    steps: Sequence[str]  # rendered calls, e.g. "robot.pick_and_place(red block, blue bowl)"


class PromptBuilder:
    """Renders `header + examples + current scene + instruction + steps so far`."""

    def __init__(
        self,
        examples: Sequence[dict | FewShotExample] = (),
        header: str = "",
        scene_format: TextFormat = "saycan",
    ):
        self.examples = [e if isinstance(e, FewShotExample) else FewShotExample(**e) for e in examples]
        self.header = header
        self.scene_format = scene_format
        self._prefix = self._render_prefix()

    def _render_prefix(self) -> str:
        blocks = [self.header.rstrip("\n") + "\n"] if self.header else []
        for ex in self.examples:
            lines = ["objects = [" + ", ".join(ex.objects) + "]", f"# {ex.instruction}", *ex.steps]
            blocks.append("\n".join(lines) + "\n")
        return "\n".join(blocks) + ("\n" if blocks else "")

    @property
    def prefix(self) -> str:
        """The constant part (header + examples): identical across decisions and episodes."""
        return self._prefix

    def build(
        self, instruction: str, scene: SceneDescription, history: Sequence[SkillCall] = ()
    ) -> str:
        lines = [scene.to_text(self.scene_format), f"# {instruction}"]
        lines += [call.to_text() for call in history]
        return self._prefix + "\n".join(lines) + "\n"


def clean_instruction(text: object) -> str:
    """Validate a user's instruction: non-empty, printable, bounded. Raises InstructionError."""
    from saycan.errors import InstructionError

    if not isinstance(text, str):
        raise InstructionError(f"the instruction must be text, got {type(text).__name__}")
    cleaned = " ".join(text.split())
    if not cleaned:
        raise InstructionError("the instruction is empty")
    if len(cleaned) > MAX_INSTRUCTION_CHARS:
        raise InstructionError(
            f"the instruction is {len(cleaned)} characters long; the limit is {MAX_INSTRUCTION_CHARS}"
        )
    if any(not ch.isprintable() for ch in cleaned):
        raise InstructionError("the instruction contains control characters")
    return cleaned

"""Few-shot prompts in the SayCan notebook's code style.

The template is data (the `planner` config group holds the examples); the prompt ends with a
newline so every option starts a fresh line and token boundaries stay clean.

Closed-loop feedback (Inner Monologue): with `feedback="success"` each executed step is followed
by `# Success: yes|no`; with `"success_scene"` also by the scene perceived after it
(`# Scene: objects = [...]`). Feedback lines are comments in the code-style prompt, so the
LLM reads them but never has to produce them. With `feedback="none"` the prompt is
byte-identical to the open-loop format (score caches and trained adapters depend on that).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from saycan.errors import ConfigError
from saycan.perception.scene import SceneDescription, TextFormat
from saycan.skills.types import SkillCall

#: Characters an instruction may not contain (control characters would break the prompt layout).
MAX_INSTRUCTION_CHARS = 300

#: What the planner is told after each step: nothing, the success verdict, or verdict + scene.
FEEDBACK_MODES = ("none", "success", "success_scene")


@dataclass(frozen=True)
class HistoryStep:
    """One executed step as the prompt shows it: the call, and the feedback seen after it."""

    call: SkillCall
    success: bool | None = None  # the success detector's verdict; None = no detector ran
    scene: SceneDescription | None = None  # the scene perceived after the step (for `Scene:` lines)


def history_calls(history: Sequence[SkillCall | HistoryStep]) -> list[SkillCall]:
    """The calls alone: what planners that ignore feedback (oracle, step counters) need."""
    return [h.call if isinstance(h, HistoryStep) else h for h in history]


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
        feedback: str = "none",
    ):
        if feedback not in FEEDBACK_MODES:
            raise ConfigError(
                f"prompt.feedback must be one of {', '.join(FEEDBACK_MODES)}, got {feedback!r}"
            )
        self.feedback = feedback
        self.examples = [
            e if isinstance(e, FewShotExample) else FewShotExample(**e) for e in examples
        ]
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
        self,
        instruction: str,
        scene: SceneDescription,
        history: Sequence[SkillCall | HistoryStep] = (),
    ) -> str:
        lines = [scene.to_text(self.scene_format), f"# {instruction}"]
        for step in history:
            lines += self._step_lines(step)
        return self._prefix + "\n".join(lines) + "\n"

    def _step_lines(self, step: SkillCall | HistoryStep) -> list[str]:
        """The call line, then the feedback this builder is configured to show (if known)."""
        if not isinstance(step, HistoryStep):
            return [step.to_text()]
        lines = [step.call.to_text()]
        if self.feedback == "none":
            return lines
        if step.success is not None:
            lines.append(f"# Success: {'yes' if step.success else 'no'}")
        if self.feedback == "success_scene" and step.scene is not None:
            scene_lines = step.scene.to_text(self.scene_format).split("\n")
            lines.append(f"# Scene: {scene_lines[0]}")
            lines += [f"# {line}" for line in scene_lines[1:]]
        return lines


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
            f"the instruction is {len(cleaned)} characters long; the limit is "
            f"{MAX_INSTRUCTION_CHARS}"
        )
    if any(not ch.isprintable() for ch in cleaned):
        raise InstructionError("the instruction contains control characters")
    return cleaned

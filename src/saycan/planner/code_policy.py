"""`planner=code_policy` (Code as Policies, Liang et al. 2023): the model writes a short program
against the robot API (`robot_api`), and the sandbox (`sandbox`) runs it one skill call at a
time inside the normal loop.

How a program becomes robot motion:

1. **Write.** The prompt is the API in comment lines, worked examples (scene, instruction,
   program) and the current scene and instruction; the generator continues it greedily up to
   a blank line or `max_new_tokens`.
2. **Check.** The text is parsed and checked statically (`sandbox.check_program`), then run
   once in full against the scene as perceived now, with every skill call only recorded (a
   dry run): a program that fails a check, errors, exceeds a budget, calls a skill with names
   the scene lacks or makes more than `max_skill_calls` calls is refused *before anything
   moves*, and the planner answers `done` with the reason in the trace.
3. **Run.** Each `decide` resumes the program on the newly perceived scene until its next
   skill call. That call must be an admissible candidate of the skill library in this scene
   and have an affordance above `min_affordance`; the safety gate then checks it again when
   the executor runs it.
4. **Re-write.** A call the affordance vetoes, or a step the success detector judged failed,
   ends the program; a new one is written from the current scene (the calls made so far are
   shown as comments), at most `max_programs` per episode. A program that finishes (or calls
   `done()`) ends the episode with `done`; so does one that errors mid-run.

The trace records each program's text, its status and the refusal reason (`generation`), and
the generation's tokens (`llm_stats`): one model call per program, not per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from saycan.errors import ConfigError
from saycan.perception.scene import SceneDescription
from saycan.planner.decision import Decision
from saycan.planner.following import FailureWatch, affordances, followed
from saycan.planner.generation import Generation, ScoresToo, TextGenerator
from saycan.planner.prompts import HistoryStep, PromptBuilder, history_calls
from saycan.planner.robot_api import RobotAPI, api_doc
from saycan.planner.sandbox import Interpreter, ProgramRefused, SandboxLimits, check_program
from saycan.planner.scorers.base import KeepsPromptCache
from saycan.skills.affordances.base import AffordanceModel
from saycan.skills.base import SkillLibrary
from saycan.skills.done import DONE
from saycan.skills.types import SkillCall


def program_text(call: SkillCall) -> str:
    """A call as the program writes it: `pick_and_place('red block', 'blue bowl')`."""
    return f"{call.skill}({', '.join(repr(a) for a in call.args)})"


@dataclass
class _Running:
    """The program being run: its text, index in the episode and suspended interpreter."""

    text: str
    index: int
    api: RobotAPI
    interpreter: Interpreter
    steps: Iterator[SkillCall]


class CodePolicyPlanner:
    """Writes a policy program with a `TextGenerator` and hands its skill calls to the loop."""

    def __init__(
        self,
        generator: TextGenerator,
        affordance: AffordanceModel,
        skills: SkillLibrary,
        prompt: PromptBuilder,
        skill_docs: Mapping[str, str] | None = None,
        max_new_tokens: int = 160,
        stop: Sequence[str] = ("\n\n", "\nobjects"),
        max_programs: int = 2,
        max_skill_calls: int = 20,
        min_affordance: float = 0.0,
        limits: Mapping[str, int] | None = None,
        name: str = "code_policy",
    ):
        if not isinstance(generator, TextGenerator):
            raise ConfigError(
                f"planner=code_policy needs a text generator, got {type(generator).__name__}"
            )
        if int(max_programs) < 1 or int(max_skill_calls) < 1 or int(max_new_tokens) < 1:
            raise ConfigError(
                "planner.max_programs, max_skill_calls and max_new_tokens must be >= 1"
            )
        if not math.isfinite(float(min_affordance)):  # nan would veto every call, silently
            raise ConfigError(f"planner.min_affordance must be finite, got {min_affordance!r}")
        try:
            self.limits = SandboxLimits(**dict(limits or {}))
        except TypeError as exc:
            raise ConfigError(f"planner.limits: {exc}") from None
        self.generator = generator
        # The generator's own model, when it can say: loaded up front and named in the records.
        self.scorer = generator.scorer if isinstance(generator, ScoresToo) else None
        self.affordance = affordance
        self.skills = skills
        self.prompt = prompt
        self.name = name
        self.max_new_tokens = int(max_new_tokens)
        self.stop = tuple(stop)
        self.max_programs = int(max_programs)
        self.max_skill_calls = int(max_skill_calls)
        self.min_affordance = float(min_affordance)
        docs = dict(skill_docs or {})
        self.skill_names = frozenset(skills.names)
        self.header = api_doc({s: docs.get(s, f"{s}(...)") for s in skills.names})
        self._running: _Running | None = None
        self._last_text = ""  # the program written last (the trace shows it on every decision)
        self._written = 0
        self._watch = FailureWatch()

    def reset(self, rng: np.random.Generator, task: object | None = None) -> None:
        """A new episode: no program. A generator's kept prompt cache is dropped (as SayCan
        drops its scorer's) so a result never depends on the episode before it."""
        self._running, self._written, self._last_text = None, 0, ""
        self._watch.reset()
        if isinstance(self.generator, KeepsPromptCache):
            self.generator.reset_cache()

    # -- one decision ------------------------------------------------------------------------------
    def decide(
        self, instruction: str, scene: SceneDescription, history: Sequence[SkillCall | HistoryStep]
    ) -> Decision:
        start = time.perf_counter()
        values = affordances(self.skills, self.affordance, scene)
        events: list[str] = []
        stats: dict = {}
        written: dict = {}
        prompt = ""
        if self._watch.failed_since(history) and self._running is not None:
            events.append("the last step was judged failed: the program ends")
            self._running = None
        chosen: SkillCall | None = None
        while chosen is None:
            if self._running is None:
                if self._written >= self.max_programs:
                    events.append(f"no program left (max_programs={self.max_programs})")
                    chosen = DONE
                    break
                prompt, gen, written = self._write(instruction, scene, history, list(values))
                stats = _add_stats(stats, gen)
                if self._running is None:  # refused: nothing runs, nothing moves
                    chosen = DONE
                    break
            chosen, event = self._advance(scene, values)
            if event:
                events.append(event)
        generation = {
            "text": self._running.text if self._running is not None else self._last_text,
            "summary": "the next call of the running program",
            **written,
            "program_index": self._running.index
            if self._running is not None
            else self._written - 1,
            "events": events,
        }
        if chosen == DONE:
            self._running = None
        return Decision(
            prompt,
            followed(values, chosen),
            chosen,
            self.name,
            time.perf_counter() - start,
            stats,
            generation=generation,
        )

    def _write(
        self,
        instruction: str,
        scene: SceneDescription,
        history: Sequence,
        calls: Sequence[SkillCall],
    ) -> tuple[str, Generation, dict]:
        """Generate, check and dry-run a program; on success it becomes `_running`."""
        done_so_far = [f"# done: {program_text(c)}" for c in history_calls(history)]
        prompt = (
            self.header
            + "\n\n"
            + self.prompt.build(instruction, scene)
            + "".join(line + "\n" for line in done_so_far)
        )
        gen = self.generator.generate(prompt, max_new_tokens=self.max_new_tokens, stop=self.stop)
        text = gen.text.rstrip()
        self._written += 1
        self._last_text = text
        record = {
            "program": text,
            "text": text,
            "stopped_by": gen.stopped_by,
            "generated_tokens": gen.generated_tokens,
        }
        try:
            planned = self._dry_run(text, scene, set(calls))
        except ProgramRefused as exc:
            return (
                prompt,
                gen,
                {
                    **record,
                    "status": "refused",
                    "reason": str(exc),
                    "summary": f"program refused: {exc}",
                },
            )
        api = RobotAPI(scene)
        interpreter = Interpreter(
            check_program(text, self._callables(api), self.skill_names, self.limits),
            api.functions(),
            self.skill_names,
            self.limits,
        )
        self._running = _Running(text, self._written - 1, api, interpreter, interpreter.run())
        return (
            prompt,
            gen,
            {
                **record,
                "status": "accepted",
                "planned": [program_text(c) for c in planned],
                "summary": f"program accepted; the dry run plans {len(planned)} call(s)",
            },
        )

    def _callables(self, api: RobotAPI) -> dict[str, object]:
        return {**api.functions(), **{s: None for s in self.skill_names}}

    def _dry_run(
        self, text: str, scene: SceneDescription, admissible: set[SkillCall]
    ) -> list[SkillCall]:
        """Run the whole program on the current scene, recording skill calls without acting."""
        api = RobotAPI(scene)
        tree = check_program(text, self._callables(api), self.skill_names, self.limits)
        interpreter = Interpreter(tree, api.functions(), self.skill_names, self.limits)
        planned: list[SkillCall] = []
        for call in interpreter.run():
            if call == DONE:
                break
            if call not in admissible:
                raise ProgramRefused(
                    f"line {interpreter.line}: {program_text(call)} is not a call the robot can "
                    "make in this scene (unknown skill arguments or objects)"
                )
            planned.append(call)
            if len(planned) > self.max_skill_calls:
                raise ProgramRefused(
                    f"the program makes more than {self.max_skill_calls} skill calls"
                )
        return planned

    def _advance(
        self, scene: SceneDescription, values: dict[SkillCall, float]
    ) -> tuple[SkillCall | None, str]:
        """The running program's next call on this scene, or None when it was vetoed."""
        running = self._running
        running.api.scene = scene
        try:
            call = next(running.steps)
        except StopIteration:
            return DONE, "the program finished"
        except ProgramRefused as exc:
            return DONE, f"the program stopped: {exc}"
        if call == DONE:
            return DONE, "the program called done()"
        if call not in values:
            self._running = None
            return (
                None,
                f"{program_text(call)} is not a call the robot can make in this scene: the "
                "program ends",
            )
        if not values[call] > self.min_affordance:
            self._running = None
            return (
                None,
                f"the affordance vetoes {program_text(call)} ({values[call]:.2f}): the program "
                "ends",
            )
        return call, ""


def _add_stats(stats: dict, gen: Generation) -> dict:
    """One generation's cost, summed into the decision's `llm_stats` (as scorers report it)."""
    out = dict(stats)
    for key, value in (
        ("calls", 1),
        ("prompt_tokens", gen.prompt_tokens),
        ("generated_tokens", gen.generated_tokens),
        ("tokens_computed", gen.tokens),
        ("seconds", round(gen.seconds, 4)),
    ):
        out[key] = out.get(key, 0) + value
    return out

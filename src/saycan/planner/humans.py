"""Who answers the robot's questions (`human` config group): a person at the terminal
(`saycan run`), or a simulated human who knows the task's ground truth (`saycan eval`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, Protocol, runtime_checkable

from saycan.planner.ask import NoAnswerError, right_call
from saycan.planner.prompts import HistoryStep
from saycan.planner.success import HasExpertPlan
from saycan.skills.done import DONE
from saycan.skills.types import SkillCall


@runtime_checkable
class OutcomeJudge(Protocol):
    """Someone who can say, at the end of an episode without a task, whether the instruction
    was carried out (an operator watching the real table). A simulated human cannot."""

    def judge_outcome(self, instruction: str) -> bool: ...


class SimulatedHuman:
    """Answers with the expert's next call (the task's intended binding), or "none of these"
    (None) when it is not among the options."""

    name = "simulated"

    def __init__(self) -> None:
        self._plan: list[SkillCall] = [DONE]

    def reset(self, task: object | None) -> None:
        if not isinstance(task, HasExpertPlan):
            raise NoAnswerError("human=simulated needs a task with a ground-truth plan")
        self._plan = list(task.expert_plan())

    def ask(
        self,
        question: str,
        options: Sequence[SkillCall],
        history: Sequence[SkillCall | HistoryStep],
    ) -> int | None:
        right = right_call(self._plan, history)
        return list(options).index(right) if right in options else None


class TerminalHuman:
    """Prints the numbered options and reads the answer from stdin (0: none of these). Without
    an interactive terminal (EOF, piped input that ends) it raises `NoAnswerError`, unless the
    planner is configured to guess (`ask_for_help.on_no_answer=guess`)."""

    name = "terminal"

    def __init__(
        self, attempts: int = 3, stdin: IO[str] | None = None, stdout: IO[str] | None = None
    ):
        self.attempts = int(attempts)
        self._stdin = stdin
        self._stdout = stdout

    def reset(self, task: object | None) -> None:
        pass

    def ask(
        self,
        question: str,
        options: Sequence[SkillCall],
        history: Sequence[SkillCall | HistoryStep],
    ) -> int | None:
        stdin, out = self._stdin or sys.stdin, self._stdout or sys.stdout
        print(f"\nThe robot is unsure. {question}", file=out)
        for i, call in enumerate(options, 1):
            print(f"  {i}. {call.to_text()}", file=out)
        print("  0. none of these", file=out)
        for _ in range(self.attempts):
            print(f"answer [0-{len(options)}]: ", end="", file=out, flush=True)
            line = stdin.readline()
            if not line:
                raise NoAnswerError(
                    "the robot asked for help but stdin is closed (no terminal); "
                    "answer interactively, or set ask_for_help.on_no_answer=guess"
                )
            text = line.strip()
            if text.isdigit() and 0 <= int(text) <= len(options):
                return None if int(text) == 0 else int(text) - 1
            print(f"please type a number from 0 to {len(options)}", file=out)
        raise NoAnswerError(f"no valid answer after {self.attempts} attempts")

    def judge_outcome(self, instruction: str) -> bool:
        """At the end of an episode without a task: was `instruction` carried out? (y/n)"""
        stdin, out = self._stdin or sys.stdin, self._stdout or sys.stdout
        for _ in range(self.attempts):
            print(f'\nDid the robot do "{instruction}"? [y/n]: ', end="", file=out, flush=True)
            line = stdin.readline()
            if not line:
                raise NoAnswerError(
                    "the episode asks the operator for its outcome but stdin is "
                    "closed; answer interactively or set outcome_from_human=false"
                )
            text = line.strip().lower()
            if text in ("y", "yes", "n", "no"):
                return text.startswith("y")
            print("please answer y or n", file=out)
        raise NoAnswerError(f"no valid answer after {self.attempts} attempts")

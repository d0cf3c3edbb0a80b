"""`executor=dry_run`: plan and show every chosen call, move nothing.

Meant for a first session with new hardware: the whole loop runs (perception, scores, the
safety gate's checks and, with `safety.confirm=true`, its questions), but no motion command
reaches the driver. Each chosen call is printed and kept in `calls`; the trace records it like
any other step, with the result's message saying it was not executed. Since nothing moves, the
success detector judges manipulation steps as failed: that is the truth of a dry run.
"""

from __future__ import annotations

import sys

from saycan.drivers.base import RobotDriver
from saycan.perception.scene import SceneDescription
from saycan.skills.base import SkillLibrary
from saycan.skills.done import DONE
from saycan.skills.types import SkillCall, SkillResult

NOT_EXECUTED = "dry run: not executed"


class DryRunExecutor:
    """An executor that records calls instead of running their motor programs."""

    name = "dry_run"

    def __init__(self, skills: SkillLibrary, echo: bool = True) -> None:
        self.skills = skills
        self.echo = bool(echo)
        self.calls: list[SkillCall] = []

    def execute(self, call: SkillCall, driver: RobotDriver, scene: SceneDescription) -> SkillResult:
        self.calls.append(call)
        if self.echo:
            print(
                f"dry run: would run {call.to_text()} (nothing moves)", file=sys.stdout, flush=True
            )
        if call == DONE:
            return SkillResult(call, True)
        return SkillResult(call, True, message=NOT_EXECUTED, steps=0)

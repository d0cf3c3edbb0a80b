"""Skill-level values: a structured call, and the typed result of executing it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


@dataclass(frozen=True)
class SkillCall:
    """A structured skill invocation. Its text is rendered for the LLM, never parsed back."""

    skill: str
    args: tuple[str, ...] = ()

    def to_text(self) -> str:
        return f"robot.{self.skill}({', '.join(self.args)})"

    def __str__(self) -> str:  # pragma: no cover - convenience for logs
        return self.to_text()


@dataclass(frozen=True)
class ExpertMove:
    """What the task expert wants done, before any skill is chosen for it: `obj` (a block or a
    bowl) ends up on / in / at `target` (a block, a bowl or a named location). The expert plans
    on a symbolic copy of the scene in these terms; the skill library says which skill's call
    makes each move (`ExpertUse`)."""

    obj: str
    target: str
    obj_category: str
    target_category: str  # "block" | "bowl" | "location"


@dataclass(frozen=True)
class Placement:
    """Where a skill's intended effect leaves an object: its centre at `position`, upright.

    A skill states its effect this way, on the world's state rather than on a simulator, so a
    direct-effect executor (`executor=teleport`) can apply it without the skill importing the
    simulator."""

    object: str
    position: tuple[float, float, float]


class FailureReason(str, Enum):
    """Every way a skill can fail, typed so that traces and metrics can count them."""

    IK_FAILED = "ik_failed"
    UNREACHABLE = "unreachable"
    GRASP_MISSED = "grasp_missed"
    DROPPED = "dropped"
    COLLISION = "collision"
    TIMEOUT = "timeout"
    UNKNOWN_OBJECT = "unknown_object"
    INVALID_TARGET = "invalid_target"
    REFUSED = "refused"  # the safety gate or a human said no


@dataclass(frozen=True)
class PrimitiveRecord:
    """One motor primitive inside a skill: its name, status and step count."""

    name: str
    status: str
    steps: int


@dataclass(frozen=True)
class SkillResult:
    call: SkillCall
    success: bool
    reason: FailureReason | None = None
    message: str = ""
    steps: int = 0  # control steps used by the whole skill
    primitives: tuple[PrimitiveRecord, ...] = field(default=())

    def to_dict(self) -> dict:
        return {
            "call": self.call.to_text(),
            "success": self.success,
            "reason": self.reason.value if self.reason else None,
            "message": self.message,
            "steps": self.steps,
            "primitives": [p.__dict__ for p in self.primitives],
        }

"""Typed errors that the CLI turns into one readable line (never a traceback).

Every layer raises a subclass of :class:`SayCanError` for bad input or an unusable environment,
so that `saycan run` / `saycan eval` can report it and exit non-zero without losing results.
"""

from __future__ import annotations


class SayCanError(Exception):
    """Base class for errors a user can fix (bad config, bad input, missing model...)."""


class ConfigError(SayCanError):
    """A config key, value or group option is unknown or invalid."""


class UnknownTaskError(ConfigError):
    """The requested task does not exist."""


class GateRefusal(SayCanError, AttributeError):
    """A command the safety gate does not forward (a simulator's `servo`, its `env`) was asked
    of a gated driver: nothing was sent. An AttributeError too, so capability checks
    (`isinstance` on a Protocol) see the wrapper as lacking it."""


class OutputError(SayCanError):
    """A result file could not be written (disk full, file too large, no permission). What was
    on disk before stays as it was: nothing half-written is left behind."""


class InstructionError(SayCanError):
    """The instruction is empty, too long or otherwise unusable."""


class ModelLoadError(SayCanError):
    """A language model (or other learned model) could not be loaded."""


class ScorerError(SayCanError):
    """A language-model backend failed to score options (server down, auth, malformed reply)."""


class DriverError(SayCanError):
    """A robot driver broke its contract or lost its connection."""


class NoOperatorError(SayCanError):
    """`safety.confirm=true` asked an operator to approve a skill and nobody can answer (no
    terminal): an error, never a silent "no" that looks like a refusal by a person."""


class DisconnectedError(DriverError):
    """The link to the robot is gone (a networked host fell silent or closed): the episode
    ends with `stopped_by: disconnected`, its trace and record written."""


class MotionHalted(DriverError):
    """A motion was stopped mid-way by `halt()` (a robot host's e-stop). `speed_before` and
    `joint_speed` are the arm's largest joint speed (rad/s) when halted and once stopped."""

    def __init__(
        self, message: str, joint_speed: float | None = None, speed_before: float | None = None
    ) -> None:
        super().__init__(message)
        self.joint_speed = joint_speed
        self.speed_before = speed_before

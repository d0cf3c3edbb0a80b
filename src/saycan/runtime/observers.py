"""Who watches an episode while it runs (a live view, a recorder): one declared contract the
episode runner calls at fixed points, so a viewer never reaches into the loop or the driver."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # the runner imports this module; these are for the signatures only
    from saycan.drivers.types import Observation
    from saycan.planner.loop import StepRecord
    from saycan.runtime.episode import EpisodeResult


@runtime_checkable
class EpisodeObserver(Protocol):
    """Told when an episode begins, after every decision (with the observation the decision
    was taken on), and when it ends, also after an interruption or a lost robot. It only
    watches: nothing it does changes what the robot does. `needs_images`: the simulator
    renders the camera for it even when perception does not read images."""

    name: str
    needs_images: bool

    def begin(self, out_dir: Path, instruction: str) -> None: ...

    def step(self, record: StepRecord, obs: Observation) -> None: ...

    def end(self, result: EpisodeResult) -> None: ...


class NoViewer:
    """`viewer=none`, the default: nobody watches, nothing is imported or written."""

    name = "none"
    needs_images = False

    def begin(self, out_dir: Path, instruction: str) -> None:
        pass

    def step(self, record: StepRecord, obs: Observation) -> None:
        pass

    def end(self, result: EpisodeResult) -> None:
        pass

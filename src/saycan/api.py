"""The Python API, for people with their own robot stack (a ROS node, a lab's control loop)
who want only the planner, or only the loop.

Components come from the same config groups and overrides as `saycan run` (Hydra's compose
API underneath, so `["llm=gemma3_270m", "affordance=learned"]` means what it means on the
command line); nothing here picks classes by hand.

    from saycan.api import SayCan
    stack = SayCan(["robot=mock"])                  # or SayCan(driver=MyArmDriver(...))
    for c in stack.decide("put the red block in the blue bowl", scene):
        print(c.call.to_text(), c.llm_logprob, c.affordance, c.combined)
    result = stack.run_episode("put the red block in the blue bowl")

`decide(...)` and `run_episode(driver, ...)` are one-shot forms that build a stack each call
(and load the language model each call): keep a `SayCan` for repeated use.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_module
from hydra.errors import HydraException
from omegaconf import DictConfig

from saycan.drivers.base import RobotDriver
from saycan.errors import ConfigError
from saycan.perception.scene import SceneDescription
from saycan.planner.decision import CandidateScore
from saycan.planner.prompts import HistoryStep
from saycan.runtime.components import Components, build_components
from saycan.runtime.episode import EpisodeResult
from saycan.runtime.episode import run_episode as _run_episode
from saycan.skills.types import SkillCall

__all__ = ["SayCan", "compose_config", "decide", "run_episode"]


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """The `saycan run` config with command-line style `overrides` applied (Hydra compose)."""
    try:
        with initialize_config_module("saycan.configs", version_base=None):
            return compose("config", overrides=list(overrides))
    except HydraException as exc:  # an unknown group option or key: one readable line
        raise ConfigError(str(exc).splitlines()[0]) from None


class SayCan:
    """A planner stack built from config; with a robot it also runs whole episodes.

    `overrides` are `saycan run` overrides. `driver`: your own `RobotDriver` (it replaces the
    `robot` group; the safety gate still sits in front of it). `robot=None` in neither place
    (`SayCan(planner_only=True)`) builds no robot: affordances then skip reachability checks.
    """

    def __init__(
        self,
        overrides: Sequence[str] = (),
        driver: RobotDriver | None = None,
        *,
        planner_only: bool = False,
    ) -> None:
        self.cfg = compose_config([*overrides, *(["~robot"] if planner_only else [])])
        self.components: Components = build_components(self.cfg, driver)

    def decide(
        self,
        instruction: str,
        scene: SceneDescription,
        history: Sequence[SkillCall | HistoryStep] = (),
    ) -> list[CandidateScore]:
        """Every candidate call for `scene`, best first, with its LLM log-prob, affordance and
        combined score. `history`: the calls (or `HistoryStep`s) already executed."""
        decision = self.components.planner.decide(instruction, scene, list(history))
        return decision.ranked()

    def run_episode(
        self,
        instruction: str,
        *,
        seed: int = 0,
        out_dir: str | Path | None = None,
        max_steps: int | None = None,
        frames: bool = False,
    ) -> EpisodeResult:
        """The whole closed loop on the stack's robot, without a task: judged by the planner's
        `done` and the perceived-scene success detector. Trace and `episode.json` go to
        `out_dir` (a fresh temporary directory when None)."""
        out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="saycan-"))
        return _run_episode(
            self.components,
            None,
            seed,
            out,
            instruction=instruction,
            max_steps=max_steps,
            video=False,
            frames=frames,
        )

    def close(self) -> None:
        """Disconnect the robot (if any)."""
        self.components.close()

    def __enter__(self) -> SayCan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def decide(
    instruction: str,
    scene: SceneDescription,
    history: Sequence[SkillCall | HistoryStep] = (),
    *,
    overrides: Sequence[str] = (),
) -> list[CandidateScore]:
    """One decision with no robot: the ranked candidates with their scores."""
    with SayCan(overrides, planner_only=True) as stack:
        return stack.decide(instruction, scene, history)


def run_episode(
    driver: RobotDriver, instruction: str, *, overrides: Sequence[str] = (), **kwargs
) -> EpisodeResult:
    """The whole loop on your `driver` (see `SayCan.run_episode` for the keywords)."""
    with SayCan(overrides, driver) as stack:
        return stack.run_episode(instruction, **kwargs)

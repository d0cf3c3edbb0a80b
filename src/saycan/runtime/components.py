"""Every component an episode needs, built once from the composed config with Hydra and reused
across episodes: robot (behind the safety gate), skills, perception, affordances, planner,
success detector, disturbance and executor."""

from __future__ import annotations

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from saycan.errors import ConfigError, SayCanError
from saycan.planner.scorers.base import model_name


class Components:
    """Everything an episode needs, built once from the config and reusable across episodes."""

    def __init__(self, cfg: DictConfig):
        self.cfg = cfg
        # The safety gate (cfg.safety) sits between planner and motors: the driver's motion is
        # checked command by command, and every skill passes the gate (budget, e-stop, confirm).
        self.safety = instantiate(cfg.safety) if cfg.get("safety") is not None else None
        driver = instantiate(cfg.robot)
        self.driver = self.safety.wrap_driver(driver) if self.safety is not None else driver
        self.driver.connect()
        self.skills = instantiate(cfg.skills)
        self.perception = instantiate(cfg.perception)
        self.affordance = instantiate(cfg.affordance, motion=self.driver.motion)
        self.planner = instantiate(cfg.planner, affordance=self.affordance, skills=self.skills)
        # Issue 9: feedback, disturbances, asking for help (docs/feedback.md).
        if cfg.get("ask_for_help") is not None:  # KnowNo: wraps whichever planner was chosen
            self.planner = instantiate(cfg.ask_for_help, planner=self.planner)
        self.success_detector = instantiate(cfg.success_detector) if cfg.get("success_detector") else None
        self.disturbance = instantiate(cfg.disturbance) if cfg.get("disturbance") else None
        if hasattr(self.driver, "set_disturbance"):
            self.driver.set_disturbance(self.disturbance)
        elif self.disturbance is not None and self.disturbance.name != "none":
            raise ConfigError(f"disturbance={self.disturbance.name} needs a simulator driver")
        self.feedback = str(OmegaConf.select(cfg, "prompt.feedback", default="none") or "none")
        # Load the language model now, not lazily in the first decision: otherwise the first
        # decision's seconds (traces, reports, seconds per decision) include the model load.
        scorer = getattr(self.planner, "scorer", None)
        if hasattr(scorer, "load"):
            scorer.load()
        executor = instantiate(cfg.executor, skills=self.skills)
        self.executor = self.safety.wrap_executor(executor) if self.safety is not None else executor

    def close(self) -> None:
        self.driver.disconnect()


def component_names(components: Components) -> dict[str, str]:
    """The llm / perception / affordance / executor an episode ran with (`none` for a planner
    that asks no language model), so records of different configurations never merge."""
    scorer = getattr(components.planner, "scorer", None)

    def name(part: object) -> str:
        return str(getattr(part, "name", None) or type(part).__name__)

    return {
        # the same id `saycan serve-llm` serves the model as: the adapter is part of it
        "llm": model_name(scorer) if scorer is not None else "none",
        "perception": name(getattr(components, "perception", None)),
        "affordance": name(getattr(components, "affordance", None)),
        "executor": name(getattr(components, "executor", None)),
    }


def surfaced(exc: InstantiationException) -> SayCanError:
    """Hydra wraps a constructor's exception in an InstantiationException; the user needs the
    SayCanError inside it (a readable, typed message), or one line naming what failed."""
    cause = exc.__cause__
    while cause is not None and not isinstance(cause, SayCanError):
        cause = cause.__cause__
    return cause or SayCanError(f"could not build a component: {str(exc).splitlines()[0]}")


def build_components(cfg: DictConfig) -> Components:
    """Build from config; a SayCanError raised inside a constructor is surfaced as itself."""
    try:
        return Components(cfg)
    except InstantiationException as exc:
        raise surfaced(exc) from None



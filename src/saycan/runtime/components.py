"""Every component an episode needs, built once from the composed config with Hydra and reused
across episodes: robot (behind the safety gate), skills, perception, affordances, planner,
success detector, disturbance and executor."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from saycan.drivers.base import RobotDriver, SimulatorExtras
from saycan.errors import ConfigError, SayCanError
from saycan.planner.humans import OutcomeJudge
from saycan.planner.loop import Perception, Planner
from saycan.planner.scorers.base import LoadsLazily, UsesLanguageModel, model_name
from saycan.redaction import redacted
from saycan.runtime.observers import EpisodeObserver, NoViewer


@runtime_checkable
class NeedsSimulator(Protocol):
    """An executor that acts on the simulator directly (teleport): it is handed the driver's
    `SimulatorExtras` once, since the safety gate in front of the driver passes motions only."""

    def bind_simulator(self, sim: SimulatorExtras) -> None: ...


class Components:
    """Everything an episode needs, built once from the config and reusable across episodes."""

    def __init__(
        self, cfg: DictConfig, driver: RobotDriver | None = None, scorer: object | None = None
    ):
        """`driver`: a robot built by the caller (the Python API); None builds `cfg.robot`,
        and with no `robot` in the config there is no robot at all (planning only).
        `scorer`: the planner's language scorer, built by the caller (a lockstep sweep's
        episodes share one model); None builds the config's."""
        self.cfg = cfg
        # The safety gate (cfg.safety) sits between planner and motors: the driver's motion is
        # checked command by command, and every skill passes the gate (budget, e-stop, confirm).
        self.safety = instantiate(cfg.safety) if cfg.get("safety") is not None else None
        if driver is None and cfg.get("robot") is not None:
            driver = instantiate(cfg.robot)
        # What only a simulator can do, checked once: None on a real arm (or a remote one).
        self.sim: SimulatorExtras | None = driver if isinstance(driver, SimulatorExtras) else None
        if driver is not None and self.safety is not None:
            driver = self.safety.wrap_driver(driver)
        self.driver: RobotDriver | None = driver
        # A scene to place when an episode has no task (simulators only; `scene` group).
        self.scene = instantiate(cfg.scene) if cfg.get("scene") is not None else None
        if self.scene is not None and driver is not None and self.sim is None:
            raise ConfigError(
                f"scene=... places objects in a simulator, and {driver.name} is "
                "none (over robot=remote: serve-robot scene=... places it on the "
                "host, or debug=true there and robot=remote_sim here)"
            )
        # Who says, at the end of an episode without a task, whether it was carried out.
        self.outcome_judge = instantiate(cfg.human) if cfg.get("outcome_from_human") else None
        if self.outcome_judge is not None and not isinstance(self.outcome_judge, OutcomeJudge):
            raise ConfigError(
                "outcome_from_human=true needs a human who can answer y/n "
                f"(human=terminal), not {type(self.outcome_judge).__name__}"
            )
        self.skills = instantiate(cfg.skills)
        self.perception = instantiate(cfg.perception)
        motion = self.driver.motion if self.driver is not None else None  # None: no IK checks
        self.affordance = instantiate(cfg.affordance, motion=motion, skills=self.skills)
        given = {"scorer": scorer} if scorer is not None and "scorer" in cfg.planner else {}
        self.planner = instantiate(
            cfg.planner, affordance=self.affordance, skills=self.skills, **given
        )
        # Closed loop: feedback, disturbances, asking for help (docs/feedback.md).
        if cfg.get("ask_for_help") is not None:  # KnowNo: wraps whichever planner was chosen
            self.planner = instantiate(cfg.ask_for_help, planner=self.planner)
        for part, contract in ((self.perception, Perception), (self.planner, Planner)):
            if not isinstance(part, contract):  # checked once here, relied on in every episode
                raise ConfigError(
                    f"{type(part).__name__} does not implement the "
                    f"{contract.__name__} protocol (saycan.planner.loop): "
                    "it needs reset() as well"
                )
        self.success_detector = (
            instantiate(cfg.success_detector, skills=self.skills)
            if cfg.get("success_detector")
            else None
        )
        self.disturbance = instantiate(cfg.disturbance) if cfg.get("disturbance") else None
        if self.sim is not None:
            self.sim.set_disturbance(self.disturbance)
        elif self.disturbance is not None and self.disturbance.name != "none":
            raise ConfigError(f"disturbance={self.disturbance.name} needs a simulator driver")
        self.feedback = str(OmegaConf.select(cfg, "prompt.feedback", default="none") or "none")
        # Who watches the episodes (`viewer` group): configs without the group watch nothing.
        self.viewer = instantiate(cfg.viewer) if cfg.get("viewer") is not None else NoViewer()
        if not isinstance(self.viewer, EpisodeObserver):
            raise ConfigError(
                f"viewer: {type(self.viewer).__name__} does not implement the "
                "EpisodeObserver protocol (saycan.runtime.observers)"
            )
        # Load the language model now, not lazily in the first decision: otherwise the first
        # decision's seconds (traces, reports, seconds per decision) include the model load.
        if isinstance(self.planner, UsesLanguageModel) and isinstance(
            self.planner.scorer, LoadsLazily
        ):
            self.planner.scorer.load()
        executor = instantiate(cfg.executor, skills=self.skills)
        if isinstance(executor, NeedsSimulator):
            if self.sim is None:
                raise ConfigError(f"executor={executor.name} needs a simulator driver")
            executor.bind_simulator(self.sim)
        self.executor = self.safety.wrap_executor(executor) if self.safety is not None else executor
        # Connected last, once the slow loads are done: a networked robot's session starts
        # when the planner is ready to use it (its host stops the arm when the client is
        # silent, and a model load can starve the client's heartbeat thread).
        if self.driver is not None:
            self.driver.connect()

    def close(self) -> None:
        if self.driver is not None:
            self.driver.disconnect()


def component_names(components: Components) -> dict[str, str]:
    """The llm / perception / affordance / executor an episode ran with (`none` for a planner
    that asks no language model), so records of different configurations never merge."""
    planner = components.planner
    scorer = planner.scorer if isinstance(planner, UsesLanguageModel) else None

    def name(part: object) -> str:
        return str(getattr(part, "name", None) or type(part).__name__)

    return {
        # the same id `saycan serve-llm` serves the model as: the adapter is part of it
        "llm": model_name(scorer) if scorer is not None else "none",
        "perception": name(components.perception),
        "affordance": name(components.affordance),
        "executor": name(components.executor),
    }


#: A constructor's message is cut here in an error line (it can be a whole file's text).
DETAIL_LIMIT = 500


def surfaced(exc: InstantiationException) -> SayCanError:
    """Hydra wraps a constructor's exception in an InstantiationException; the user needs the
    SayCanError inside it (a readable, typed message), or one line naming the target, its
    config key and what the constructor raised (a misspelt argument's name), secrets redacted."""
    cause = exc.__cause__
    while cause is not None and not isinstance(cause, SayCanError):
        cause = cause.__cause__
    if cause is not None:
        return cause
    # A constructor that instantiates in turn (a planner building its scorer) nests Hydra's
    # exceptions; the innermost names the target that failed.
    while isinstance(exc.__cause__, InstantiationException):
        exc = exc.__cause__
    # Hydra's text: "Error in call to target 'X':", the wrapped exception's repr, "full_key: K".
    lines = _safe_str(exc).splitlines()
    where = lines[0].rstrip(":") if lines else type(exc).__name__
    message = f"could not build a component: {where}"
    if len(lines) > 1 and lines[-1].startswith("full_key: "):
        message += f" (config key `{lines[-1].removeprefix('full_key: ')}`)"
    if exc.__cause__ is not None:
        detail = " ".join(_safe_str(exc.__cause__).split())
        if len(detail) > DETAIL_LIMIT:
            detail = detail[:DETAIL_LIMIT] + "..."
        message += f": {type(exc.__cause__).__name__}" + (f": {detail}" if detail else "")
    return SayCanError(redacted(message))


def _safe_str(exc: BaseException) -> str:
    """str(exc), or "" when its __str__ itself raises (that must not hide the error)."""
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - any failure of a foreign __str__
        return ""


def build_components(
    cfg: DictConfig, driver: RobotDriver | None = None, scorer: object | None = None
) -> Components:
    """Build from config; a SayCanError raised inside a constructor is surfaced as itself."""
    try:
        return Components(cfg, driver, scorer)
    except InstantiationException as exc:
        raise surfaced(exc) from None

"""`viewer=rerun`: the episode streamed to Rerun while it runs, and saved as an `.rrd`.

One recording per episode on a `step` timeline (one tick per decision; `sim_step` alongside):
the camera (RGB, depth, pinhole intrinsics and pose), the perceived objects as labelled boxes in
the world frame, the end-effector path (where each motor primitive ended), and every decision:
its candidates' LLM, affordance and combined scores, the chosen call and the skill's outcome,
as a table, a log line, machine-readable values and plottable series. The HTML viewer
(`saycan view`) explains a finished episode; this one is for watching a robot as it acts.

Entity paths (what a test or a script reads back from the `.rrd`):
  world/camera             Transform3D + Pinhole (OpenCV axes)
  world/camera/rgb|depth   Image, DepthImage (metres)
  world/objects            Boxes3D: the perceived scene, labelled with object names
  world/ee, world/ee_path  Points3D, LineStrips3D: the end effector now and its path so far
  decisions/log            TextLog: one line per decision (chosen call and outcome)
  decisions/table          TextDocument: the ranked candidates with their scores
  decisions/candidates     AnyValues: call, llm_logprob, affordance, combined (one row per decision)
  decisions/outcome        AnyValues: chosen, success, reason, detected_success
  scores/chosen/*          Scalars: the chosen call's llm_logprob, affordance, combined
  episode/instruction, episode/result   TextDocument
"""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from saycan.errors import ConfigError, OutputError
from saycan.eval.run import _fmt as fmt_score
from saycan.planner.decision import Decision
from saycan.sim.objects_catalog import COLOURS
from saycan.skills.done import DONE

if TYPE_CHECKING:
    from saycan.drivers.types import Observation
    from saycan.planner.loop import StepRecord
    from saycan.runtime.episode import EpisodeResult

log = logging.getLogger(__name__)

#: What a Rerun viewer's URL starts with (rerun-sdk 0.41).
VIEWER_SCHEMES = ("rerun://", "rerun+http://", "rerun+https://")
#: Objects whose colour has no name in the palette.
UNKNOWN_COLOUR = (0.6, 0.6, 0.6, 1.0)


def _import_rerun() -> ModuleType:
    """rerun-sdk is an optional extra (a large download few headless runs need)."""
    try:
        import rerun
    except ImportError:
        raise ConfigError(
            "viewer=rerun needs rerun-sdk: pip install 'saycan-stack[viewer]'"
        ) from None
    return rerun


class RerunViewer:
    """An `EpisodeObserver` (saycan.runtime.observers) that logs each episode to Rerun."""

    name = "rerun"
    needs_images = True  # the camera is the first thing a live view shows

    def __init__(
        self,
        spawn: bool = False,
        connect: str | None = None,
        filename: str = "episode.rrd",
        application_id: str = "saycan",
    ) -> None:
        """`spawn`: start a viewer on this machine and stream to it; `connect`: stream to a
        running viewer at that URL (say, the operator's laptop); the `.rrd` is saved either way."""
        # Hydra hands over what the override said: `viewer.spawn=no` is the string "no", which
        # bool() would read as yes; a number is no file name
        if not isinstance(spawn, bool):
            raise ConfigError(f"viewer.spawn must be true or false, got {spawn!r}")
        if not isinstance(application_id, str) or not application_id:
            raise ConfigError(
                f"viewer.application_id must be non-empty text, got {application_id!r}"
            )
        if (
            not isinstance(filename, str)
            or Path(filename).name != filename
            or not filename.endswith(".rrd")
            or filename == ".rrd"
        ):
            raise ConfigError(
                f"viewer.filename must be a file name ending in .rrd, got {filename!r}"
            )
        if connect is not None and not str(connect).startswith(VIEWER_SCHEMES):
            raise ConfigError(
                f"viewer.connect must be a Rerun URL ({', '.join(VIEWER_SCHEMES)}"
                f"...), e.g. rerun+http://127.0.0.1:9876/proxy; got {connect!r}"
            )
        self.rr = _import_rerun()
        self.spawn, self.connect = spawn, connect
        self.filename, self.application_id = filename, application_id
        self.path: Path | None = None  # the .rrd of the current (or last) episode
        self._rec = None
        self._ee_path: list[tuple[float, float, float]] = []

    # -- the episode ----------------------------------------------------------------------------
    def begin(self, out_dir: Path, instruction: str) -> None:
        rr = self.rr
        self.path = Path(out_dir) / self.filename
        self._ee_path = []
        rec = rr.RecordingStream(self.application_id)
        sinks = [rr.FileSink(str(self.path))]
        if self.spawn:  # the viewer process only; the gRPC sink below streams to it
            rr.spawn(connect=False, executable_path=_viewer_binary(), recording=rec)
        if self.spawn or self.connect:
            sinks.append(rr.GrpcSink(self.connect) if self.connect else rr.GrpcSink())
        try:  # the file is created here: Rerun's I/O error (no such directory, no permission)
            rec.set_sinks(*sinks)
        except RuntimeError as exc:
            raise OutputError(f"viewer=rerun cannot write {self.path}: {exc}") from None
        rec.log("world", rr.ViewCoordinates.RIGHT_HAND_Z_UP, static=True)  # +z up, table at z=0
        rec.log("episode/instruction", rr.TextDocument(instruction), static=True)
        self._rec = rec

    def step(self, record: StepRecord, obs: Observation) -> None:
        rec = self._rec
        rec.set_time("step", sequence=record.index)
        rec.set_time("sim_step", sequence=int(obs.step))
        self._camera(obs)
        self._objects(record)
        self._end_effector(record, obs)
        self._decision(record)

    def end(self, result: EpisodeResult) -> None:
        rr, rec = self.rr, self._rec
        rec.set_time("step", sequence=result.steps)
        verdict = "SUCCESS" if result.success else "FAILURE"
        rec.log(
            "episode/result",
            rr.TextDocument(
                f"{verdict}: stopped by {result.stopped_by} after {result.steps} step(s)\n\n"
                f"plan: {' -> '.join(result.plan) or '(none)'}"
                + (f"\n\nnot met: {', '.join(result.unmet)}" if result.unmet else "")
            ),
        )
        try:
            rec.flush()
        except RuntimeError as exc:  # a live viewer that never answered; the file is written
            log.warning("the Rerun viewer got nothing (%s); the episode is in %s", exc, self.path)
        rec.disconnect()  # closes the file: the .rrd is complete from here on
        self._rec = None

    # -- what one step logs ---------------------------------------------------------------------
    def _camera(self, obs: Observation) -> None:
        rr, rec, cam = self.rr, self._rec, obs.camera
        if cam is not None:
            pose = np.asarray(cam.world_from_camera, dtype=float)
            rec.log("world/camera", rr.Transform3D(translation=pose[:3, 3], mat3x3=pose[:3, :3]))
            rec.log(
                "world/camera",
                rr.Pinhole(
                    image_from_camera=np.asarray(cam.intrinsics, dtype=float),
                    resolution=[cam.width, cam.height],
                    camera_xyz=rr.ViewCoordinates.RDF,
                ),
            )
        if obs.rgb is not None:
            rec.log("world/camera/rgb", rr.Image(np.asarray(obs.rgb, dtype=np.uint8)))
        if obs.depth is not None:
            rec.log(
                "world/camera/depth", rr.DepthImage(np.asarray(obs.depth, np.float32), meter=1.0)
            )

    def _objects(self, record: StepRecord) -> None:
        objects = record.scene.objects
        holding = record.scene.holding
        self._rec.log(
            "world/objects",
            self.rr.Boxes3D(
                centers=[o.position for o in objects] or np.zeros((0, 3)),
                sizes=[o.size for o in objects] or np.zeros((0, 3)),
                labels=[o.name + (" (held)" if o.name == holding else "") for o in objects],
                colors=[COLOURS.get(o.colour, UNKNOWN_COLOUR) for o in objects] or np.zeros((0, 4)),
            ),
        )

    def _end_effector(self, record: StepRecord, obs: Observation) -> None:
        rr, rec = self.rr, self._rec
        self._ee_path.append(tuple(obs.ee_position))
        if record.result is not None:  # where each motion of the skill ended, in order
            self._ee_path.extend(
                p.position for p in record.result.primitives if p.position is not None
            )
        rec.log("world/ee", rr.Points3D([obs.ee_position], radii=0.01))
        rec.log("world/ee_path", rr.LineStrips3D([self._ee_path]))

    def _decision(self, record: StepRecord) -> None:
        rr, rec, d = self.rr, self._rec, record.decision
        result = record.result
        if d.chosen == DONE:
            outcome, level = "done", "INFO"
        elif result is not None and result.success:
            outcome, level = "ok", "INFO"
        else:
            reason = result.reason.value if result is not None and result.reason else "?"
            outcome, level = f"FAILED ({reason})", "WARN"
        rec.log(
            "decisions/log",
            rr.TextLog(f"step {record.index}: {d.chosen.to_text()} -> {outcome}", level=level),
        )
        rec.log(
            "decisions/table",
            rr.TextDocument(
                decision_markdown(record.index, d, outcome), media_type=rr.MediaType.MARKDOWN
            ),
        )
        cands = d.candidates
        rec.log(
            "decisions/candidates",
            rr.AnyValues(
                call=[c.call.to_text() for c in cands],
                llm_logprob=[_finite(c.llm_logprob) for c in cands],
                affordance=[float(c.affordance) for c in cands],
                combined=[_finite(c.combined) for c in cands],
            ),
        )
        rec.log(
            "decisions/outcome",
            rr.AnyValues(
                chosen=d.chosen.to_text(),
                success=bool(result.success) if result is not None else True,
                reason=(result.reason.value if result is not None and result.reason else ""),
                detected_success=(
                    ""
                    if record.detected_success is None
                    else "yes"
                    if record.detected_success
                    else "no"
                ),
            ),
        )
        chosen = next((c for c in cands if c.call == d.chosen), None)
        if chosen is not None:
            scores = (
                ("llm_logprob", chosen.llm_logprob),
                ("affordance", chosen.affordance),
                ("combined", chosen.combined),
            )
            for what, value in scores:
                if math.isfinite(value):  # a forbidden or unscored option has no point
                    rec.log(f"scores/chosen/{what}", rr.Scalars(float(value)))


def _viewer_binary() -> str | None:
    """The `rerun` viewer installed beside this interpreter (a venv need not be on PATH)."""
    beside = Path(sys.executable).parent / "rerun"
    return str(beside) if beside.is_file() else None


def decision_markdown(index: int, decision: Decision, outcome: str) -> str:
    """The ranked candidates as a Markdown table, the chosen call marked."""
    lines = [
        f"### step {index}: {decision.chosen.to_text()} -> {outcome}",
        "",
        "| | candidate | llm log p | affordance | combined |",
        "|-|-|-:|-:|-:|",
    ]
    for c in decision.ranked():
        mark = "**>**" if c.call == decision.chosen else ""
        lines.append(
            f"| {mark} | {c.call.to_text()} | {fmt_score(c.llm_logprob)} | "
            f"{c.affordance:.2f} | {fmt_score(c.combined)} |"
        )
    lines.append(f"\n{decision.seconds:.2f} s to decide ({decision.planner})")
    return "\n".join(lines)


def _finite(x: float) -> float:
    """Arrow columns hold one type: a forbidden option's -inf / nan is logged as NaN."""
    return float(x) if math.isfinite(x) else math.nan

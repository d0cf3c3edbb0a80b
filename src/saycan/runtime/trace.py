"""Episode artefacts: the JSONL decision trace, per-decision camera frames, and the video."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from saycan.errors import OutputError
from saycan.files import append_whole, atomic_path, cannot_write
from saycan.planner.loop import StepRecord


class TraceWriter:
    """Appends one JSON record per decision and flushes it at once, so a crash mid-episode
    still leaves every finished decision on disk."""

    def __init__(self, path: Path, frames_dir: Path | None = None):
        self.path = Path(path)
        self.frames_dir = frames_dir
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("wb", buffering=0)
        except OSError as exc:
            raise cannot_write(self.path, exc) from None

    def write(
        self,
        record: StepRecord,
        rgb: np.ndarray | None,
        scene_format: str = "rich",
        extra: dict | None = None,
    ) -> None:
        """Append `record` as one whole line (a full disk is an `OutputError`: the lines
        before it stay whole); `extra` adds episode-level fields (a task's milestone progress)."""
        try:
            self._write(record, rgb, scene_format, extra or {})
        except OSError as exc:
            raise cannot_write(self.path, exc) from None

    def _write(
        self, record: StepRecord, rgb: np.ndarray | None, scene_format: str, extra: dict
    ) -> None:
        frame = None
        if self.frames_dir is not None and rgb is not None:
            frame = self.frames_dir / f"step_{record.index:02d}.png"
            write_png(frame, rgb)
        scene = record.scene
        entry = {
            "step": record.index,
            "observation_step": record.observation_step,
            "scene_text": scene.to_text(scene_format),
            "scene": {
                "objects": [
                    {
                        "name": o.name,
                        "category": o.category,
                        "colour": o.colour,
                        "position": [round(v, 4) for v in o.position],
                        "confidence": o.confidence,
                    }
                    for o in scene.objects
                ],
                "relations": [r.to_text() for r in scene.relations],
                "holding": scene.holding,
            },
            **record.decision.to_dict(),
            "result": record.result.to_dict() if record.result else None,
            # Closed loop (docs/feedback.md): the detector's verdict on this step, what disturbed
            # the world after it, and the feedback lines the next prompt can show.
            "detected_success": record.detected_success,
            "disturbances": record.disturbances,
            "feedback": record.feedback,
            **_question(record.decision.help),
            "frame": str(frame.relative_to(self.path.parent)) if frame else None,
            **extra,
        }
        append_whole(self._file.fileno(), (json.dumps(entry) + "\n").encode("utf-8"))

    def close(self) -> None:
        self._file.close()


def _question(help: dict | None) -> dict:
    """The robot's question and the human's answer, flat, as the viewer shows them."""
    if not help or "set" not in help:
        return {}
    out = {"prediction_set": help["set"]}
    if help.get("asked"):
        out.update(question=help.get("question"), answer=help.get("answer"))
    return out


def write_png(path: Path, rgb: np.ndarray) -> None:
    import imageio.v3 as iio

    with atomic_path(path, suffix=Path(path).suffix) as tmp:
        iio.imwrite(tmp, np.asarray(rgb, dtype=np.uint8))


def write_video(path: Path, frames: Sequence[np.ndarray], fps: int = 15) -> Path:
    """MP4 through imageio-ffmpeg; falls back to an animated GIF if no encoder is available."""
    import imageio.v2 as imageio

    frames = [np.asarray(f, dtype=np.uint8) for f in frames]
    if not frames:
        raise ValueError("no frames were recorded")
    path = Path(path)
    try:
        with atomic_path(path, suffix=path.suffix) as tmp:
            imageio.mimwrite(tmp, frames, fps=fps, macro_block_size=8)
        return path
    except OutputError:
        raise  # the disk, not the encoder
    except Exception:  # no ffmpeg backend: a GIF still lets people watch the episode
        gif = path.with_suffix(".gif")
        with atomic_path(gif, suffix=".gif") as tmp:
            imageio.mimwrite(tmp, frames, duration=1000 / fps, loop=0)
        return gif

"""`perception=open_vocab`: a transformers zero-shot detector (OWL-ViT, OWLv2) queried with a
configurable vocabulary ("red block", "blue bowl", ...), as ViLD is in the SayCan notebook.

Boxes become 3D positions through the depth under them (`geometry.object_centre`, the same
centre estimate as the segmenter's). Weights come from a local directory or the HF cache; with
`local_files_only` nothing is downloaded, and absent weights are a `ModelLoadError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from saycan.devices import available_device
from saycan.drivers.types import CameraInfo, Observation
from saycan.errors import ConfigError, ModelLoadError, SayCanError
from saycan.perception.geometry import object_centre, world_points
from saycan.perception.relations import describe_scene
from saycan.perception.scene import SceneDescription, SceneObject
from saycan.weights import check_finite
from saycan.world import COLOUR_NAMES, object_size

#: Points this high (m) above the table belong to an object, not the table under the box.
ABOVE_TABLE = 0.008


def load_detector(model: str, local_files_only: bool = True, device: Any = "cpu"):
    """(processor, model in eval mode) from an HF id or a local directory."""
    from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(model, local_files_only=local_files_only)
        detector = AutoModelForZeroShotObjectDetection.from_pretrained(
            model, local_files_only=local_files_only
        )
    except Exception as exc:  # OSError (absent), ValueError (not a detector), JSON errors...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = "the HF cache or local path" if local_files_only else "the Hub"
        raise ModelLoadError(
            f"open-vocabulary detector {model!r} could not be loaded from {where}: {first}"
        ) from None
    check_finite(detector.named_parameters(), model)
    return processor, detector.to(device).eval()


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy non-maximum suppression (indices kept, best first)."""
    order = list(np.argsort(-scores))
    keep: list[int] = []
    area = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    while order:
        i = order.pop(0)
        keep.append(int(i))
        rest = []
        for j in order:
            x0, y0 = max(boxes[i, 0], boxes[j, 0]), max(boxes[i, 1], boxes[j, 1])
            x1, y1 = min(boxes[i, 2], boxes[j, 2]), min(boxes[i, 3], boxes[j, 3])
            inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
            union = area[i] + area[j] - inter
            if union <= 0 or inter / union <= iou:
                rest.append(j)
        order = rest
    return keep


class OpenVocabPerception:
    """Zero-shot detection with text queries; one object per query name (the best box)."""

    name = "open_vocab"
    needs_images = True

    def __init__(
        self,
        model: str = "google/owlvit-base-patch32",
        local_files_only: bool = True,
        colours: Sequence[str] | None = None,
        categories: Sequence[str] = ("block", "bowl"),
        vocabulary: Sequence[str] | None = None,
        score_threshold: float = 0.1,
        nms_iou: float = 0.3,
        device: str = "cpu",
    ) -> None:
        if vocabulary:
            queries = [str(q).strip() for q in vocabulary]
        else:
            queries = [f"{c} {k}" for k in categories for c in (colours or COLOUR_NAMES)]
        bad = [q for q in queries if len(q.split()) != 2 or q.split()[1] not in ("block", "bowl")]
        if not queries or bad:
            raise ConfigError(
                "open_vocab vocabulary must be '<colour> <block|bowl>' queries; got "
                f"{bad or 'none'}"
            )
        self.queries = queries
        self.score_threshold = float(score_threshold)
        self.nms_iou = float(nms_iou)
        self.device = available_device(device, "perception.device")  # before the weights load
        self.processor, self.model = load_detector(model, local_files_only, self.device)

    def reset(self, rng: np.random.Generator | None = None) -> None:
        """Stateless."""

    def detect(self, rgb: np.ndarray, depth: np.ndarray, camera: CameraInfo) -> list[SceneObject]:
        h, w = rgb.shape[:2]
        inputs = self.processor(text=[self.queries], images=[rgb], return_tensors="pt").to(
            self.device
        )
        with torch.no_grad():
            outputs = self.model(**inputs)
        result = self.processor.post_process_grounded_object_detection(
            outputs=outputs, threshold=self.score_threshold, target_sizes=[(h, w)]
        )[0]
        boxes = result["boxes"].detach().cpu().numpy().reshape(-1, 4)
        scores = result["scores"].detach().cpu().numpy().reshape(-1)
        labels = result["labels"].detach().cpu().numpy().reshape(-1)
        pts = world_points(depth, camera)
        objects: list[SceneObject] = []
        seen: set[str] = set()
        for i in _nms(boxes, scores, self.nms_iou):
            name = self.queries[int(labels[i])]
            if name in seen:
                continue  # names are unique in a scene: keep the best box per query
            x0, y0, x1, y1 = boxes[i]
            c0, c1 = int(np.clip(np.floor(x0), 0, w - 1)), int(np.clip(np.ceil(x1), 1, w))
            r0, r1 = int(np.clip(np.floor(y0), 0, h - 1)), int(np.clip(np.ceil(y1), 1, h))
            if c1 <= c0 or r1 <= r0:
                continue
            box_pts = pts[r0:r1, c0:c1].reshape(-1, 3)
            raised = box_pts[box_pts[:, 2] > ABOVE_TABLE]
            colour, category = name.split()
            size = object_size(category)
            if len(raised):
                position = object_centre(raised, category, size[2])
            else:  # nothing above the table under the box: its centre, at table height
                centre = pts[(r0 + r1) // 2, (c0 + c1) // 2]
                position = (float(centre[0]), float(centre[1]), size[2] / 2)
            seen.add(name)
            objects.append(SceneObject(name, category, colour, position, size, float(scores[i])))
        return objects

    def perceive(self, obs: Observation) -> SceneDescription:
        if obs.rgb is None or obs.depth is None or obs.camera is None:
            raise SayCanError(
                "perception=open_vocab needs an RGB-D camera image in the observation"
            )
        objects = self.detect(obs.rgb, obs.depth, obs.camera)
        return describe_scene(objects, obs)

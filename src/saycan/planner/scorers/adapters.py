"""LoRA adapters for the scoring model: found, checked against the base model, merged at load.

An adapter directory is what `saycan train planner` writes: peft's `adapter_config.json` and
`adapter_model.safetensors` (tensors only: loading runs no code), plus `saycan_adapter.json`,
which records the base model it was trained on, the prompt it was trained with, and the seeds
and templates of its data (so evaluation can refuse to run on them). `adapter:` in an `llm`
config takes a directory path or the name of a packaged adapter (`src/saycan/assets/planner/`).
The adapter is merged into the weights, so scoring costs exactly what the base model costs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saycan.errors import ModelLoadError
from saycan.weights import check_finite

log = logging.getLogger(__name__)

PACKAGED_DIR = Path(__file__).resolve().parents[2] / "assets" / "planner"
META_FILE = "saycan_adapter.json"
WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"


@dataclass(frozen=True)
class Adapter:
    path: Path
    meta: dict[str, Any]
    digest: str  # sha256 of the weights file: the cache key changes when they do

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def identity(self) -> str:
        return f"{self.name}@{self.digest[:16]}"

    @property
    def training_seeds(self) -> range | None:
        seeds = self.meta.get("training_seeds")
        return range(int(seeds[0]), int(seeds[1])) if seeds else None

    def merge_into(self, model: Any, model_id: str, gguf_file: str | None) -> Any:
        """The base model with the adapter's low-rank updates added to its weights."""
        base = self.meta.get("base", {})
        if base and (base.get("model") != model_id or base.get("gguf_file") != gguf_file):
            raise ModelLoadError(
                f"adapter {self.name!r} was trained on {base.get('model')!r}"
                f"{'/' + base['gguf_file'] if base.get('gguf_file') else ''}, not on {model_id!r}"
                f"{'/' + gguf_file if gguf_file else ''}; its updates would be meaningless there"
            )
        weights = self.path / WEIGHTS_FILE
        try:
            from safetensors.torch import load_file

            tensors = load_file(str(weights))
        except Exception as exc:  # noqa: BLE001 - safetensors has its own error types
            raise ModelLoadError(
                f"adapter weights {weights} are unreadable ({type(exc).__name__}: {exc})"
            ) from None
        check_finite(tensors, weights)  # NaN updates would make every score NaN
        try:
            from peft import PeftModel

            merged = PeftModel.from_pretrained(model, str(self.path)).merge_and_unload()
        except Exception as exc:  # noqa: BLE001 - any failure is a load failure, named
            raise ModelLoadError(
                f"could not apply adapter {str(self.path)!r} ({type(exc).__name__}: {exc})"
            ) from exc
        merged.eval()
        log.info("merged adapter %s into %s", self.identity, model_id)
        return merged


def resolve_adapter(adapter: str | Path) -> Adapter:
    """A directory path, or the name of a packaged adapter; ModelLoadError if incomplete."""
    text = str(adapter).strip()
    path = Path(text).expanduser()
    if not path.is_dir():
        packaged = PACKAGED_DIR / text
        if packaged.is_dir():
            path = packaged
        else:
            known = (
                sorted(p.name for p in PACKAGED_DIR.glob("*") if p.is_dir())
                if PACKAGED_DIR.is_dir()
                else []
            )
            raise ModelLoadError(
                f"adapter {text!r} is neither a directory nor a packaged adapter (packaged: "
                f"{known})"
            )
    missing = [f for f in (CONFIG_FILE, WEIGHTS_FILE) if not (path / f).is_file()]
    if missing:
        raise ModelLoadError(f"adapter {str(path)!r} is incomplete: missing {', '.join(missing)}")
    meta: dict[str, Any] = {}
    if (path / META_FILE).is_file():
        try:
            meta = json.loads((path / META_FILE).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelLoadError(
                f"adapter {str(path)!r}: {META_FILE} is not valid JSON ({exc})"
            ) from None
    digest = hashlib.sha256((path / WEIGHTS_FILE).read_bytes()).hexdigest()
    return Adapter(path.resolve(), meta, digest)

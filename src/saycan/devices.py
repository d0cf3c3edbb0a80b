"""Which torch device a component may compute on, checked once when it is built.

Why a probe and not a name check: "cuda" parses on every machine, and a torch without CUDA (this
project's CPU wheel) or a GPU index that is not there fails only when a tensor is first put on
it: mid-sweep for a scorer, after an hour of data for a trainer. Every config key that names a
device (`llm.device`, the planner trainer's, `perception.device`) goes through here.
"""

from __future__ import annotations

from typing import Any

from saycan.errors import ConfigError


def available_device(device: str, key: str = "device") -> Any:
    """`device` as a torch.device this machine can compute on, or a ConfigError naming `key`."""
    import torch

    try:
        parsed = torch.device(str(device))
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"{key}={device!r} is not a device: {exc}") from None
    if parsed.type == "meta":  # holds shapes, not numbers
        raise ConfigError(f"{key}=meta holds no numbers to compute with; use cpu or cuda")
    try:
        torch.empty(1, device=parsed)
    except Exception as exc:  # noqa: BLE001 - each backend fails its own way (hpu: an import)
        text = str(exc).strip() or type(exc).__name__
        reason = text.splitlines()[0].split(". ")[0][:160]  # some backends explain at length
        raise ConfigError(
            f"{key}={device!r} is not available on this machine ({reason}); "
            f"torch {torch.__version__} sees {torch.cuda.device_count()} CUDA device(s)"
        ) from None
    return parsed

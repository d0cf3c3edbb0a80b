"""saycan.sim: the PyBullet tabletop (importing this registers `saycan/Tabletop-v0`)."""

from __future__ import annotations

ENV_ID = "saycan/Tabletop-v0"


def import_pybullet_quietly() -> None:
    """Import pybullet with its C build-time banner swallowed.

    The banner goes straight to file descriptor 2, so a CLI whose errors promise to be one
    stderr line would break that promise in every process that touches the simulator. The CLI
    calls this before composing; importing `saycan.sim` alone does not load pybullet (a mock or
    real-arm driver never needs it).
    """
    import os
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import pybullet  # noqa: F401  (cached in sys.modules for every later import)
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _register() -> None:
    """Register with gymnasium once; importing twice (or reloading) is harmless."""
    try:
        import gymnasium
    except ImportError:  # pragma: no cover - gymnasium is a dependency
        return
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="saycan.sim.env:TabletopEnv")


_register()

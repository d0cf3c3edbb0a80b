"""saycan.sim: the PyBullet tabletop (importing this registers `saycan/Tabletop-v0`)."""

from __future__ import annotations

ENV_ID = "saycan/Tabletop-v0"


def _register() -> None:
    """Register with gymnasium once; importing twice (or reloading) is harmless."""
    try:
        import gymnasium
    except ImportError:  # pragma: no cover - gymnasium is a dependency
        return
    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="saycan.sim.env:TabletopEnv")


_register()

"""A per-env PyBullet client that keeps stdout clean."""

from __future__ import annotations

import os

import pybullet
from pybullet_utils.bullet_client import BulletClient


class QuietBulletClient(BulletClient):
    """`BulletClient` (one physics server per instance, the client id bound to every call)
    without its `options` string: pybullet parses one, even an empty one, and prints `argv[0]=`
    to stdout, where the CLI's last line must be its JSON summary. Sets the same three fields
    as `BulletClient.__init__` (pybullet 3.2.x), so `__getattr__` and `__del__` work unchanged."""

    def __init__(self, connection_mode: int = pybullet.DIRECT) -> None:
        self._shapes: dict = {}
        self._pid = os.getpid()
        self._client = pybullet.connect(connection_mode)
        if self._client < 0:
            raise pybullet.error(f"could not start a PyBullet server (mode {connection_mode})")

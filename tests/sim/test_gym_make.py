"""`gym.make` in a fresh interpreter that has not imported saycan: Gymnasium 1.x dropped its
entry-point plugin loader, so the id names its module (`saycan.sim:saycan/Tabletop-v0`) and
Gymnasium imports it, which registers the env."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
import gymnasium as gym
assert "saycan" not in sys.modules
env = gym.make("saycan.sim:saycan/Tabletop-v0", camera_width=64, camera_height=48)
obs, info = env.reset(seed=0)
print(obs["rgb"].shape, len(info["objects"]) > 0, env.spec.id)
env.close()
"""


def test_gym_make_without_importing_saycan_first():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == "(48, 64, 3) True saycan/Tabletop-v0"

"""A second arm, chosen by config alone, runs the same skill code; the primitives bench."""

from __future__ import annotations

from hydra import compose, initialize_config_module

from saycan.drivers.pybullet_driver import PyBulletDriver
from saycan.eval.bench_primitives import bench_primitives, make_trial, run_trial


def test_xarm6_picks_and_places_with_the_same_skill_code():
    d = PyBulletDriver(robot="xarm6", camera_width=32, camera_height=24)
    d.connect()
    try:
        out = run_trial(d, make_trial(200000, "bowl"))
        assert out["success"], out
        assert out["sim_steps"] > 0
    finally:
        d.disconnect()


def test_bench_primitives_summary_shape():
    with initialize_config_module("saycan.configs", version_base=None):
        cfg = compose("bench_primitives", overrides=["robot=mock", "trials=3"])
    out = bench_primitives(cfg)
    assert out["trials"] == 3 and out["seed_start"] == 200000
    assert 0.0 <= out["success_rate"] <= 1.0
    assert set(out) >= {
        "robot",
        "trials",
        "success_rate",
        "failures",
        "median_wall_s",
        "median_sim_s",
    }
    assert sum(out["failures"].values()) == 3 - out["successes"]

"""`saycan bench affordance` on a slice of the shipped held-out attempts: every backend gets
n, auc, ece, brier; the constant ablation ranks nothing (auc 0.5)."""

from __future__ import annotations

from hydra import compose, initialize_config_module

from saycan.eval.bench_affordance import bench_affordance, resolve_path
from saycan.train.affordance_data import read_jsonl, write_jsonl


def test_bench_reports_every_backend_on_heldout_attempts(tmp_path):
    rows = read_jsonl(resolve_path("pkg://saycan/assets/affordance/heldout.jsonl.gz"))[:60]
    write_jsonl(tmp_path / "heldout.jsonl", rows)
    with initialize_config_module("saycan.configs", version_base=None):
        cfg = compose("bench_affordance", overrides=[f"heldout_path={tmp_path / 'heldout.jsonl'}"])
    out = bench_affordance(cfg)
    assert set(out["backends"]) == {"learned", "analytic", "none"}
    for name, m in out["backends"].items():
        assert m["n"] == 60, name
        assert {"auc", "ece", "brier", "accuracy"} <= set(m)
        assert 0.0 <= m["brier"] <= 1.0 and 0.0 <= m["ece"] <= 1.0
    assert out["backends"]["none"]["auc"] == 0.5  # a constant ranks nothing
    assert out["backends"]["learned"]["auc"] > 0.8
    assert min(r["seed"] for r in rows) >= 900000 and out["seeds"][0] >= 900000
    assert "met" in out["goal"] and out["batch_ms"]["median_candidates"] > 10

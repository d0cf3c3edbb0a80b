import pytest

from saycan.metrics import rate, summarise, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [
        # Reference values: Wilson score interval, z = 1.96 (e.g. statsmodels proportion_confint
        # method="wilson").
        (8, 10, 0.4902, 0.9433),
        (10, 10, 0.7225, 1.0),
        (0, 10, 0.0, 0.2775),
        (50, 100, 0.4038, 0.5962),
        (5, 10, 0.2366, 0.7634),
        # Newcombe (1998), Stat. Med. 17:857, Table I, method 3 (score interval, no correction).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_reference_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got[0] == pytest.approx(lo, abs=1e-4)
    assert got[1] == pytest.approx(hi, abs=1e-4)


def test_rate_and_summary():
    assert rate(3, 4)["success_rate"] == 0.75
    s = summarise(
        [
            {"task": "a", "success": True},
            {"task": "a", "success": False},
            {"task": "b", "success": True},
        ],
        "task",
    )
    assert s["a"]["n"] == 2 and s["a"]["successes"] == 1 and s["b"]["success_rate"] == 1.0


def test_bad_counts_raise():
    with pytest.raises(ValueError):
        wilson_interval(5, 4)

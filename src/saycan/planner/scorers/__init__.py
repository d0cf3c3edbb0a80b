"""saycan.planner.scorers."""

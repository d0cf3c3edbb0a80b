"""saycan.planner."""

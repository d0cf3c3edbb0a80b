"""saycan.skills.affordances."""

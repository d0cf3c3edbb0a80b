"""saycan.sim."""

"""saycan.sim.robots."""

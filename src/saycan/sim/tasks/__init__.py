"""saycan.sim.tasks."""

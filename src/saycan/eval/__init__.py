"""saycan.eval."""

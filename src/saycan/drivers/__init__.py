"""saycan.drivers."""

"""saycan.perception."""

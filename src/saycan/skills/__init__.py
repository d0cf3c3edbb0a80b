"""saycan.skills."""

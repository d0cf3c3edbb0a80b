"""Text generators (`saycan.planner.generation.TextGenerator`) for every scorer backend."""

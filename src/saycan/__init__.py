"""saycan-stack: a SayCan-style planning stack (LLM x affordance) over PyBullet or a real arm."""

__version__ = "0.1.0"

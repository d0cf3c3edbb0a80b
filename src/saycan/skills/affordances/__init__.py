"""Affordance value functions: analytic rules and the constant ablation."""

from saycan.skills.affordances.analytic import AnalyticAffordance
from saycan.skills.affordances.base import AffordanceModel, ConstantAffordance

__all__ = ["AffordanceModel", "AnalyticAffordance", "ConstantAffordance"]

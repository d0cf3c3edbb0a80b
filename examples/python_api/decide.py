"""Ask the SayCan planner for one decision on a scene built by hand: no simulator, no robot.

Run: python examples/python_api/decide.py
Prints every candidate call with its LLM log-prob, affordance and combined score, best first.
"""

from saycan.api import SayCan
from saycan.perception.scene import SceneDescription, SceneObject

# What your own perception reports, in the world frame (metres; table top at z = 0).
scene = SceneDescription(
    objects=(
        SceneObject("red block", "block", "red", (0.45, 0.10, 0.02)),
        SceneObject("green block", "block", "green", (0.55, -0.05, 0.02)),
        SceneObject("blue bowl", "bowl", "blue", (0.50, -0.20, 0.03), size=(0.12, 0.12, 0.06)),
    ),
    relations=(),  # e.g. Relation("red block", "in", "blue bowl") from your perception
    holding=None,
)

stack = SayCan(["affordance=analytic"], planner_only=True)  # any `saycan run` overrides
ranked = stack.decide("put the red block in the blue bowl", scene, history=[])
print(f"{'call':50s} {'llm':>8s} {'afford':>7s} {'combined':>9s}")
for c in ranked:
    print(f"{c.call.to_text():50s} {c.llm_logprob:8.2f} {c.affordance:7.2f} {c.combined:9.2f}")
print("chosen:", ranked[0].call.to_text())
stack.close()

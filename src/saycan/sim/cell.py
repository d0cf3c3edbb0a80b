"""The tabletop's physical cell: where any arm on this table may ever put its end effector.

One definition, read by the drivers on this table (`PyBulletDriver`, `MockDriver`) and
enforced by the safety gate on every motion command, whatever workspace is configured.
"""

from __future__ import annotations

from saycan.drivers.types import Workcell
from saycan.sim.camera import TOP_DOWN_CAMERA
from saycan.sim.objects import TABLE_EXTENT_X, TABLE_EXTENT_Y

#: Headroom (m) kept between the end effector and the overhead camera's lens.
CAMERA_CLEARANCE = 0.10

#: Over the table top (z = 0, its top face), inside its edges, under the overhead camera.
TABLETOP_CELL = Workcell(
    low=(TABLE_EXTENT_X[0], TABLE_EXTENT_Y[0], 0.0),
    high=(TABLE_EXTENT_X[1], TABLE_EXTENT_Y[1], TOP_DOWN_CAMERA.eye[2] - CAMERA_CLEARANCE),
    what=f"the table's edges and {CAMERA_CLEARANCE:g} m under the overhead camera",
)

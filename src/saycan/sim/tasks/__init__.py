"""Tasks as data: YAML specs (`specs/`), sampled into instances with goals and expert plans."""

from saycan.sim.tasks.instance import Task, TaskInstance
from saycan.sim.tasks.spec import TaskSpec, available_tasks, load_task

__all__ = ["Task", "TaskInstance", "TaskSpec", "available_tasks", "load_task"]

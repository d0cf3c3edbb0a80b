"""`saycan run`: one episode, human-readable decisions, and a JSON summary as the last line."""

from __future__ import annotations

import json
import math
from pathlib import Path

from omegaconf import DictConfig
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from saycan.errors import ConfigError
from saycan.planner.loop import StepRecord
from saycan.planner.prompts import clean_instruction
from saycan.runtime.components import build_components
from saycan.runtime.episode import run_episode
from saycan.sim.tasks import load_task


def decision_table(step: StepRecord, top: int = 5) -> Table:
    d = step.decision
    table = Table(
        title=escape(f"step {step.index}: {step.scene.to_text('saycan')}"), title_justify="left"
    )
    table.add_column("candidate")
    table.add_column("llm log p", justify="right")
    table.add_column("affordance", justify="right")
    table.add_column("combined", justify="right")
    for c in d.ranked()[:top]:
        mark = "[bold green]> [/]" if c.call == d.chosen else "  "
        table.add_row(
            mark + escape(c.call.to_text()),
            _fmt(c.llm_logprob),
            f"{c.affordance:.2f}",
            _fmt(c.combined),
        )
    if d.generation is not None:  # a planner that let the model write: what it wrote
        table.title += escape(f"\nthe model wrote: {d.generation.get('text', '')!r}")
    if step.result is not None:
        r = step.result
        outcome = "ok" if r.success else f"FAILED ({r.reason.value if r.reason else '?'})"
        table.caption = escape(
            f"executed {d.chosen.to_text()}: {outcome}, {d.seconds:.2f} s to decide"
        )
    else:
        table.caption = escape(f"chose {d.chosen.to_text()}, {d.seconds:.2f} s to decide")
    return table


def _fmt(x: float) -> str:
    return f"{x:.2f}" if math.isfinite(x) else "-inf" if x == -math.inf else "-"


def mismatch_warnings(extras: dict) -> list[str]:
    """Readable lines for an instruction that names absent objects or not the goal's."""
    lines = []
    if extras.get("instruction_mentions_absent"):
        names = ", ".join(extras["instruction_mentions_absent"])
        lines.append(f"the instruction names {names}, not in this scene")
    if extras.get("goal_not_mentioned"):
        names = ", ".join(extras["goal_not_mentioned"])
        lines.append(f"the instruction does not name {names}; success is judged on the task's goal")
    return lines


def run_command(cfg: DictConfig, out_dir: Path) -> int:
    console = Console(highlight=False, soft_wrap=True)
    taskless = cfg.task is None or cfg.get("scene") is not None
    if not taskless:
        load_task(str(cfg.task))  # bad input fails here, before any model is loaded
    if cfg.instruction is not None:
        clean_instruction(cfg.instruction)
    elif taskless:
        raise ConfigError('an episode without a task needs instruction="..."')
    components = build_components(cfg)
    try:
        if components.sim is None and not taskless:  # a real arm: the table is what it is
            if cfg.instruction is None:
                raise ConfigError(
                    f"{components.driver.name} has no simulator to set up task "
                    f'{cfg.task}: give instruction="..." (the task is ignored)'
                )
            taskless = True
        on_step = None if cfg.quiet else (lambda s: console.print(decision_table(s)))
        result = run_episode(
            components,
            None if taskless else str(cfg.task),
            int(cfg.seed),
            out_dir,
            split=str(cfg.split),
            instruction=cfg.instruction,
            max_steps=cfg.max_steps,
            video=bool(cfg.video),
            frames=bool(cfg.frames),
            on_step=on_step,
        )
    finally:
        components.close()
    verdict = "[bold green]SUCCESS[/]" if result.success else "[bold red]FAILURE[/]"
    what = "episode without a task" if taskless else result.task
    console.print(f"{verdict} {what} (seed {result.seed}): " + escape(f'"{result.instruction}"'))
    console.print(
        escape(f"plan: {' -> '.join(result.plan) or '(none)'}; stopped by {result.stopped_by}")
    )
    if result.unmet:
        console.print(escape(f"goal not met: {', '.join(result.unmet)}"))
    for line in mismatch_warnings(result.extras):
        console.print("[bold yellow]warning:[/] " + escape(line))
    console.print(escape(f"trace: {result.trace}"))
    console.print(escape(f"video: {result.video}"))
    print(json.dumps(result.to_dict()), flush=True)
    return 0 if result.success else 1  # 2 is kept for bad input

"""Expert decisions from the task suite: the planner adapter's training data.

Each episode (one task, one training seed) samples a `seen` instruction template over a scene
without the held-out colours (`colour_split.seen_colours`), runs the task's expert plan through
the configured executor (teleport by default: the decisions, not the motions, are the data) and
records every decision as the planner saw it: the perceived scene, the instruction, the calls
so far (with their success), the expert's call and the candidate calls. Prompts are rendered at
training time, so one data set serves any prompt format. Only episodes the expert solved are
kept: a failed expert step would teach a wrong continuation.

Two options widen the data beyond the templates (`DataOptions`, from `instructions` and
`situations` in train_planner.yaml): a share of episodes whose instruction the training grammar
writes from the goal (`saycan.train.grammar`; `grammar_goals` limits it to tasks with
given goal predicates), and a share whose scene is a variant the suite's
tasks never pair with their goal (`saycan.train.situations`). Both draw from generators of their
own, seeded from the episode seed, so with both shares at 0 the data is what it always was.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from saycan.errors import ConfigError
from saycan.planner.loop import run_loop
from saycan.seeds import check_training_seeds
from saycan.sim.tasks import Task, available_tasks, load_task
from saycan.sim.tasks.colour_split import seen_colours
from saycan.sim.tasks.instance import MilestoneTracker
from saycan.sim.tasks.spec import PredicateName, TaskSpec
from saycan.skills.done import DONE
from saycan.train.affordance_data import scene_to_json
from saycan.train.situations import Situation, choose

#: Streams of the per-episode generators (`default_rng([seed, stream, task key])`): apart from
#: the scene's own generator (`default_rng(seed)`), so neither option changes the scene, and
#: keyed by task too, so one seed does not draw the same choice for every task.
GRAMMAR_STREAM, SITUATION_STREAM = 1, 2


def _stream_key(task_name: str) -> int:
    return zlib.crc32(task_name.encode())


def share(value: Any, key: str) -> float:
    """A share of episodes or decisions, in [0, 1] (null: 0); anything else (a string, a truth
    value, a list) is one readable error, not a traceback."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{key} must be a number in [0, 1], got {value!r}")
    return float(value)


def whole(value: Any, key: str, minimum: int = 0) -> int:
    """A count or a seed: a whole number >= `minimum`; a fraction, a string or a truth value is
    one readable error (2.5 episodes must not quietly become 2)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{key} must be a whole number >= {minimum}, got {value!r}")
    return int(value)


def goal_predicates(value: Any, key: str) -> frozenset[str] | None:
    """A list of goal predicate names (`tower`, `in`, ...; null: no restriction); an unknown
    name or anything but a list is one readable error naming the known ones."""
    if value is None:
        return None
    known = get_args(PredicateName)
    if (
        isinstance(value, str)
        or not isinstance(value, Sequence)
        or not all(isinstance(v, str) for v in value)
    ):
        raise ConfigError(f"{key} must be a list of goal predicates ({', '.join(known)}) or null")
    names = frozenset(value)
    unknown = sorted(names - set(known))
    if unknown:
        raise ConfigError(
            f"{key}: unknown goal predicate {unknown[0]!r}; known: {', '.join(known)}"
        )
    if not names:
        raise ConfigError(f"{key} is empty: the grammar would write nothing (null: every goal)")
    return names


@dataclass(frozen=True)
class DataOptions:
    """What the episodes vary beyond the suite: shares of grammar instructions and of scene
    variants (0 and 0: the seen templates over the suite's scenes)."""

    grammar_share: float = 0.0
    #: goal predicates the grammar writes instructions for (None: every goal it can express);
    #: its wording costs some families more than it teaches them (docs/planning.md)
    grammar_goals: frozenset[str] | None = None
    situation_share: float = 0.0
    situations: tuple[Situation, ...] = field(default=())
    #: the `situations.variants` config as written (the variants' identity for `cache_key`)
    variants_config: str = "[]"

    @classmethod
    def from_config(cls, cfg: DictConfig) -> DataOptions:
        instructions = cfg.get("instructions") or {}
        situations = cfg.get("situations") or {}
        for key, section in (("instructions", instructions), ("situations", situations)):
            if not isinstance(section, Mapping):
                raise ConfigError(f"{key} must be a mapping of its options, got {section!r:.40}")
        out = cls(
            grammar_share=share(instructions.get("grammar_share"), "instructions.grammar_share"),
            grammar_goals=goal_predicates(
                instructions.get("grammar_goals"), "instructions.grammar_goals"
            ),
            situation_share=share(situations.get("share"), "situations.share"),
            situations=tuple(instantiate(situations.get("variants") or [])),
            variants_config=json.dumps(
                OmegaConf.to_container(
                    OmegaConf.create(list(situations.get("variants") or [])), resolve=True
                ),
                sort_keys=True,
            ),
        )
        bad = [s for s in out.situations if not isinstance(s, Situation)]
        if bad:
            raise ConfigError(f"situations.variants: {type(bad[0]).__name__} is not a Situation")
        if out.situation_share and not out.situations:
            raise ConfigError("situations.share > 0 needs situations.variants")
        if out.grammar_goals is not None and not out.grammar_share:
            raise ConfigError("instructions.grammar_goals needs instructions.grammar_share > 0")
        return out

    def tasks_written(self, tasks: Sequence[str]) -> list[str]:
        """The tasks of `tasks` the grammar may write for under these options (none without
        a grammar share)."""
        if not self.grammar_share:
            return []
        from saycan.train.grammar import unexpressible

        return [
            t
            for t in tasks
            if self.writes_for(spec := load_task(t)) and unexpressible(spec) is None
        ]

    def check_tasks(self, tasks: Sequence[str], key: str = "instructions.grammar_goals") -> None:
        """Refuse `grammar_goals` (set as `key`) that select none of `tasks` the grammar can
        write for: the run would train on templates only while its record says otherwise."""
        if self.grammar_share and self.grammar_goals is not None and not self.tasks_written(tasks):
            raise ConfigError(
                f"{key} {sorted(self.grammar_goals)}: no task of `tasks` "
                "has such a goal that the grammar can write"
            )

    def cache_key(self) -> str | None:
        """What an episode cache records of these options, so a cache written under other
        options is not read back as if written under these (None: the plain data, whose
        records stay as they were)."""
        if not (self.grammar_share or self.situation_share):
            return None
        payload = {
            "grammar_share": self.grammar_share,
            "grammar_goals": sorted(self.grammar_goals)
            if self.grammar_share and self.grammar_goals
            else None,
            "situation_share": self.situation_share,
            "variants": self.variants_config if self.situation_share else None,
        }
        text = json.dumps(payload, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def writes_for(self, spec: TaskSpec) -> bool:
        """Whether the grammar may write this task's instruction: any one predicate of its goal
        is in `grammar_goals` (the grammar then writes the whole goal), or no restriction is
        set."""
        return self.grammar_goals is None or any(p.pred in self.grammar_goals for p in spec.goal)


def _roles_set_by_start(spec: TaskSpec) -> bool:
    """Whether a role is the block held, stacked, nearest, in a zone or out of reach at the
    start: the instruction may name it that way ("the block under the red one", "turn the
    tower upside down", "the blocks you can reach"), which the final scene no longer shows."""
    return any(
        r.on or r.held or r.closest_to or r.farthest_from or r.region or not r.reachable
        for r in spec.roles.values()
    )


def episode_decisions(
    components: Any, task_name: str, seed: int, options: DataOptions | None = None
) -> dict[str, Any]:
    """One expert episode of `task_name` (seen colours; seen templates, or the grammar's
    sentence, over the task's scene or a variant of it) as a data record."""
    options = options or DataOptions()
    spec = seen_colours(load_task(task_name))
    from saycan.runtime.episode import after_skill_hook, begin_episode

    situation, plain = None, spec
    if options.situation_share > 0:
        srng = np.random.default_rng([int(seed), SITUATION_STREAM, _stream_key(plain.name)])
        if srng.random() < options.situation_share:
            spec, situation = choose(spec, options.situations, srng)
    driver = components.driver
    try:
        instance, initial = begin_episode(components, Task(spec, split="seen"), seed)
    except (ConfigError, ValueError):
        if situation is None:
            raise
        # the variant's scene does not fit on the table at this seed: the task's own scene
        situation, spec = None, plain
        instance, initial = begin_episode(components, Task(spec, split="seen"), seed)
    instruction, source = instance.instruction, "template"
    if options.grammar_share > 0:
        from saycan.train.grammar import instruction_for, unexpressible

        grng = np.random.default_rng([int(seed), GRAMMAR_STREAM, _stream_key(plain.name)])
        if (
            grng.random() < options.grammar_share
            and unexpressible(instance.spec) is None
            and options.writes_for(instance.spec)
        ):
            written = instruction_for(instance, grng)  # the template if every draw collided
            if written != instance.instruction:
                instruction, source = written, "grammar"
    progress = MilestoneTracker(instance, initial)  # states to pass through, checked every step
    # the loop exactly as evaluation wires it: with `disturbance=knock_placed
    # prompt.feedback=success` the data holds the expert recovering from disturbances
    outcome = run_loop(
        instruction,
        driver,
        components.perception,
        components.planner,
        components.executor,
        instance.max_steps,
        success_detector=components.success_detector,
        after_skill=after_skill_hook(components),
        feedback=components.feedback,
        on_step=lambda step, obs: progress.update(components.sim.ground_truth()),
    )
    final = components.sim.ground_truth()
    success, unmet = instance.success(initial, final, progress)
    # Would the instruction, given in the final scene, be already done? Only for a goal that is
    # a state (no milestones to pass through) and holds with that scene as its own start (a
    # move relative to where a block began does not), over objects the instruction does not
    # pick out by how the episode began: the adapter's `goal_holds_share` examples.
    goal_holds = (
        success
        and any(s.decision.chosen != DONE for s in outcome.steps)  # not an impossible task
        and instance.spec.milestones is None
        and not _roles_set_by_start(instance.spec)
        and instance.success(final, final)[0]
    )
    steps = outcome.steps
    executed = [
        {
            "call": s.decision.chosen.to_text(),
            # what the planner's prompt will say (`# Success: ...`): the success detector's
            # verdict where one ran (a knocked-off block is a failure), else the skill's result
            "success": bool(s.detected_success)
            if s.detected_success is not None
            else bool(s.result is not None and s.result.success),
            # what perception reported after the step: the next decision's scene
            "scene_after": scene_to_json(steps[i + 1].scene) if i + 1 < len(steps) else None,
        }
        for i, s in enumerate(steps)
        if s.decision.chosen != DONE
    ]
    decisions = [
        {
            "scene": scene_to_json(s.scene),
            "history": executed[:i],  # every step before a decision was a skill, not `done`
            "target": s.decision.chosen.to_text(),
            "candidates": [c.call.to_text() for c in s.decision.candidates],
        }
        for i, s in enumerate(steps)
    ]
    record = {
        "task": instance.name,
        "family": instance.family,
        "seed": int(seed),
        "instruction": instruction,
        "template": instance.template if source == "template" else None,
        "success": bool(success),
        "unmet": list(unmet),
        "goal_holds_at_end": bool(goal_holds),
        "decisions": decisions,
    }
    if options.grammar_share or options.situation_share:  # plain records stay as they were
        record["instruction_source"] = source
        record["situation"] = situation
    return record


def generate(cfg: DictConfig, pairs: Sequence[tuple[str, int]]) -> Iterator[dict[str, Any]]:
    """Expert episodes for every (task, seed), built from `cfg` (its planner must be the
    oracle). Errors are records too (`error`), so one broken scene never stops a data run."""
    from saycan.runtime.components import build_components

    check_training_seeds([s for _, s in pairs])
    if "oracle" not in str(cfg.planner.get("_target_", "")).lower():
        raise ConfigError(
            "planner data comes from the expert: the data config needs planner=oracle"
        )
    options = DataOptions.from_config(cfg)
    components = build_components(cfg)
    try:
        for task_name, seed in pairs:
            try:
                yield episode_decisions(components, task_name, int(seed), options)
            except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
                yield {
                    "task": task_name,
                    "seed": int(seed),
                    "error": f"{type(exc).__name__}: {exc}",
                }
    finally:
        components.close()


#: The key of a record written before records named their `task_key`: read back only for a
#: task asked for by its packaged name (a task file's record then was keyed by its spec's name).
LEGACY = "@legacy"


def task_key(task: str) -> str:
    """What an episode cache knows a task by: its name and a digest of its spec, so a task file
    is the same task under a relative or an absolute path, and an edited one is a new task."""
    spec = load_task(task)
    digest = hashlib.sha256(spec.model_dump_json().encode("utf-8")).hexdigest()[:12]
    return f"{spec.name}@{digest}"


def load_or_generate(
    path: Path, cfg: DictConfig, tasks: Sequence[str], seeds: Sequence[int]
) -> list[dict[str, Any]]:
    """Episodes of (tasks x seeds): read from the JSONL cache at `path` where present and
    written under the same data options (`DataOptions.cache_key`), the rest generated and
    appended one by one (an interrupted run resumes where it stopped)."""
    path = Path(path)
    keys = {t: task_key(t) for t in tasks}
    packaged = set(available_tasks())
    options = DataOptions.from_config(cfg).cache_key()

    def key(r: dict[str, Any]) -> tuple[str, int, str | None]:
        task = str(r.get("task_key") or f"{r['task']}{LEGACY}")
        return task, int(r["seed"]), r.get("data_options")

    def cached(t: str, seed: int) -> dict[str, Any] | None:
        found = have.get((keys[t], seed, options))
        if found is None and t in packaged:  # written before `task_key`: asked for by name
            found = have.get((f"{t}{LEGACY}", seed, options))
        return found

    have: dict[tuple[str, int], dict[str, Any]] = {}
    if path.exists():
        with path.open() as fh:
            for line in fh:
                try:
                    r = json.loads(line) if line.strip() else None
                    if isinstance(r, dict):
                        have[key(r)] = r
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue  # a line cut by a kill, or not a record
    missing = [(t, int(s)) for t in tasks for s in seeds if cached(t, int(s)) is None]
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as fh:
            for (t, _), r in zip(missing, generate(cfg, missing), strict=True):
                r["task_key"] = keys[t]
                if options is not None:  # plain records stay as they were
                    r["data_options"] = options
                fh.write(json.dumps(r) + "\n")
                fh.flush()
                have[key(r)] = r
    found = [cached(t, int(s)) for t in tasks for s in seeds]
    return [r for r in found if r is not None]  # every pair was cached or has just been written

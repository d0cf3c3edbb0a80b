"""A small generative grammar for the planner's training instructions.

For a task instance (its goal, and the objects its roles are bound to in the sampled scene) it
writes an instruction with the same meaning in words the templates never used: synonyms for
objects, colours, colour groups, places and verbs; imperative, question, wish and goal-statement
frames; varied word order; references by role where the scene makes them true; orders said
bottom-up or top-down, sequences said forwards or backwards; places as seen from the robot.
The vocabulary is data (`vocabulary.yaml`); docs/planning.md says how to extend it. Tasks whose
meaning the goal does not carry (`unexpressible`) keep their seen templates.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from saycan.errors import ConfigError
from saycan.language.vocabulary import VOCABULARY_FILE, Vocabulary, load_vocabulary
from saycan.sim.tasks import Task, available_tasks, load_task
from saycan.sim.tasks.colour_split import seen_colours
from saycan.sim.tasks.independent_set import says_an_evaluated_instruction
from saycan.sim.tasks.instance import TaskInstance
from saycan.train.grammar.writer import Writer, unexpressible

__all__ = [
    "VOCABULARY_FILE",
    "Vocabulary",
    "covered_tasks",
    "fallback_tasks",
    "instruction_for",
    "load_vocabulary",
    "sample_instructions",
    "unexpressible",
    "unseen_sentence",
]


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    return load_vocabulary(VOCABULARY_FILE)


def covered_tasks() -> list[str]:
    """Packaged tasks whose instructions the grammar writes."""
    return [t for t in available_tasks() if unexpressible(load_task(t)) is None]


def fallback_tasks() -> dict[str, str]:
    """Packaged tasks that keep their seen templates, with the reason."""
    out = {t: unexpressible(load_task(t)) for t in available_tasks()}
    return {t: why for t, why in out.items() if why is not None}


def instruction_for(
    instance: TaskInstance, rng: np.random.Generator, vocab: Vocabulary | None = None
) -> str:
    """An instruction with the instance's meaning, drawn from `rng`; the instance's own
    (template) instruction for a task the grammar cannot express."""
    if unexpressible(instance.spec) is not None:
        return instance.instruction
    sentence = unseen_sentence(Writer(vocab or default_vocabulary(), instance, rng))
    return instance.instruction if sentence is None else sentence


#: Draws before a sentence that keeps saying evaluated instructions gives up.
REDRAWS = 20


def unseen_sentence(writer: Writer) -> str | None:
    """A sentence from `writer` that is not an instruction of the independent evaluation set
    (the same words, colours aside), or None when `REDRAWS` draws all were."""
    for _ in range(REDRAWS):
        sentence = writer.sentence()
        if not says_an_evaluated_instruction(sentence):
            return sentence
    return None


@lru_cache(maxsize=1)
def _covered() -> tuple[tuple[Task, ...], ...]:
    """Per covered task: its own scene, then each scene variant the training config lists that
    applies to it (as `saycan.train.situations` draws them for the data)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    import saycan.configs
    from saycan.train.situations import Situation

    config = Path(saycan.configs.__file__).parent / "train_planner.yaml"
    variants = instantiate(OmegaConf.load(config).situations.variants)
    out = []
    for name in covered_tasks():
        spec = seen_colours(load_task(name))
        rng = np.random.default_rng(0)
        specs = [spec] + [
            v for v in (s.apply(spec, rng) for s in variants if isinstance(s, Situation)) if v
        ]
        out.append(tuple(Task(s, split="seen") for s in specs))
    return tuple(out)


#: Sentences written per sampled scene in `sample_instructions` (scene sampling is the slow part).
PER_SCENE = 40


def sample_instructions(n: int, seed: int) -> list[str]:
    """`n` grammar instructions over the covered tasks (seen colours) and random scenes, the
    task's own or (half the time) a scene variant of the training config, as the training data
    draws them; the same for the same seed."""
    rng = np.random.default_rng(seed)
    vocab = default_vocabulary()
    tasks = _covered()
    out: list[str] = []
    while len(out) < n:
        variants = tasks[int(rng.integers(len(tasks)))]
        task = variants[int(rng.integers(len(variants)))] if rng.random() < 0.5 else variants[0]
        try:
            instance = task.sample(rng)
        except (ConfigError, ValueError):  # the variant's scene does not fit: the task's own
            instance = variants[0].sample(rng)
        for _ in range(min(PER_SCENE, n - len(out))):
            sentence = unseen_sentence(Writer(vocab, instance, rng))
            if sentence is not None:  # the data falls back to the template there
                out.append(sentence)
    return out

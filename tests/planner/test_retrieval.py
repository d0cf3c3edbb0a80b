"""Retrieved few-shot examples: the packaged pool and all-MiniLM-L6-v2 pick examples of the same
kind of task as the instruction, also for a paraphrase never used to build the pool."""

from __future__ import annotations

import numpy as np
import pytest

from saycan.errors import ConfigError
from saycan.perception.scene import SceneDescription, SceneObject
from saycan.planner.embedding import shared_embedder
from saycan.planner.retrieval import RetrievedExamplesPrompt
from saycan.seeds import PLANNER_TRAINING, built_from


@pytest.fixture(scope="module")
def prompt() -> RetrievedExamplesPrompt:
    return RetrievedExamplesPrompt(
        k=3, pool_seed_range=(PLANNER_TRAINING.start, PLANNER_TRAINING.stop)
    )


def test_embeddings_are_unit_vectors_and_paraphrases_are_closer():
    emb = shared_embedder()
    v = emb.encode(
        [
            "stack all the blocks",
            "pile up every block into one tower",
            "put the red block in the blue bowl",
        ]
    )
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2]


@pytest.mark.parametrize(
    "instruction, task",
    [
        ("pile up every block into one tower", "stack_blocks"),  # an unseen paraphrase
        ("the cyan block belongs in the red bowl", "put_block_in_bowl"),
        ("sort the blocks: warm colours in one bowl, cool colours in the other", "sort_by_warmth"),
    ],
)
def test_the_closest_example_is_the_same_task(
    prompt: RetrievedExamplesPrompt, instruction: str, task: str
):
    chosen = prompt.select(instruction)
    assert len(chosen) == 3 and len({r["task"] for r in chosen}) == 3  # one per task
    assert task in [r["task"] for r in chosen], [r["task"] for r in chosen]
    scene = SceneDescription((SceneObject("red block", "block", "red", (0.5, 0.0, 0.02)),))
    text = prompt.build(instruction, scene)
    assert text.endswith(f"# {instruction}\n")
    assert chosen[-1]["instruction"] in text  # the closest example sits nearest the question


def test_the_pool_seed_range_reaches_the_evaluation_guard(prompt: RetrievedExamplesPrompt):
    class Planner:
        scorer = None

    planner = Planner()
    planner.prompt = prompt
    assert built_from(planner) == {"the few-shot example pool": PLANNER_TRAINING}
    with pytest.raises(ConfigError, match="at least 1"):
        RetrievedExamplesPrompt(k=0)

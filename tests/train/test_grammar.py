"""The training grammar: deterministic, complete sentences, references true in the scene, a
bad vocabulary file refused in one line, and the tasks it falls back on are the expected ones."""

from __future__ import annotations

import re

import numpy as np
import pytest
import yaml

from saycan.errors import ConfigError
from saycan.sim.tasks import Task, load_task
from saycan.sim.tasks.colour_split import seen_colours
from saycan.train.grammar import (
    VOCABULARY_FILE,
    covered_tasks,
    fallback_tasks,
    instruction_for,
    load_vocabulary,
    sample_instructions,
)
from saycan.train.situations import MinimalScene


def test_the_same_seed_gives_the_same_sentences_and_another_seed_others():
    a = sample_instructions(200, 5)
    assert a == sample_instructions(200, 5)
    assert a != sample_instructions(200, 6)
    assert len(set(a)) > 180  # varied, not a handful of templates


def test_no_sentence_has_an_unfilled_slot_or_stray_spacing():
    for text in sample_instructions(1500, 1):
        assert not re.search(r"[{}]", text), text
        assert text == " ".join(text.split()) and text.strip(" .?"), text


def test_the_tasks_that_keep_their_templates_are_the_expected_ones():
    fallback = fallback_tasks()
    assert sorted(fallback) == sorted(
        [
            "ambiguous_block",
            "ambiguous_block_in_bowl",
            "ambiguous_bowl",
            "ambiguous_stack",
            "infeasible_missing_block_target",
            "infeasible_missing_bowl",
            "infeasible_missing_description",
            "infeasible_missing_object",
            "out_of_reach_block",
            "reachable_blocks_in_bowl",
        ]
    )
    assert not set(fallback) & set(covered_tasks())
    inst = Task(seen_colours(load_task("ambiguous_stack"))).sample(np.random.default_rng(0))
    assert instruction_for(inst, np.random.default_rng(0)) == inst.instruction


def _sentences(task: str, seeds: int, per_scene: int = 30, minimal: bool = False):
    spec = seen_colours(load_task(task))
    if minimal:
        spec = MinimalScene().apply(spec, np.random.default_rng(0))
    for seed in range(seeds):
        inst = Task(spec).sample(np.random.default_rng(seed))
        rng = np.random.default_rng(seed)
        yield inst, [instruction_for(inst, rng) for _ in range(per_scene)]


HELD = ("in your hand", "you are holding", "you're holding", "in your gripper")


def test_the_hand_is_named_only_for_the_held_block():
    said = False
    for inst, texts in _sentences("holding_block_put_in_bowl", 4):
        assert inst.held
        said |= any(h in t for t in texts for h in HELD)
    assert said
    for task in ("holding_block_then_other", "put_block_in_bowl"):
        # the goal names another block (or none is held): the held one is never what is meant
        for _, texts in _sentences(task, 4):
            assert not any(h in t for t in texts for h in HELD), task


def test_the_only_block_is_said_only_when_the_scene_has_one():
    onlys = re.compile(r"\b(the only|the single|the one) (block|cube|brick|toy block)\b")
    for _, texts in _sentences("put_block_in_bowl", 4):  # two or three blocks: never
        assert not any(onlys.search(t) for t in texts)
    said = False
    for inst, texts in _sentences("put_block_in_bowl", 4, minimal=True):
        assert sum(o.category == "block" for o in inst.objects) == 1
        said |= any(onlys.search(t) for t in texts)
    assert said


def test_a_block_under_another_is_named_by_the_one_on_it():
    colours = load_vocabulary().colours
    for inst, texts in _sentences("covered_block_in_bowl", 3):
        on_top = next(o for o in inst.objects if o.on == inst.bindings["A"])
        for t in texts:
            m = re.search(r"(under|beneath) the (\w+)", t)
            if m:
                assert m.group(2) in colours[on_top.colour]["words"], t


def test_places_seen_from_the_robot_match_the_named_place():
    for inst, texts in _sentences("block_to_corner", 6):
        corner = str(inst.bindings["L"])
        for t in texts:
            if "your left" in t or "your right" in t:
                assert ("left" in t) == ("left" in corner), (t, corner)
            if "nearest you" in t or "closest to you" in t:
                assert corner.startswith("bottom"), (t, corner)
            if "farthest from you" in t or "furthest from you" in t:
                assert corner.startswith("top"), (t, corner)


def _broken(tmp_path, edit) -> str:
    data = yaml.safe_load(VOCABULARY_FILE.read_text())
    edit(data)
    path = tmp_path / "vocab.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_vocabulary(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_a_bad_vocabulary_file_is_one_line_naming_the_key(tmp_path):
    assert "nouns.bowl.many" in _broken(tmp_path, lambda d: d["nouns"]["bowl"].update(many=[]))
    assert "colours.mauve" in _broken(
        tmp_path, lambda d: d["colours"].update(mauve=d["colours"]["red"])
    )
    assert "goals.tower_up" in _broken(tmp_path, lambda d: d["goals"].pop("tower_up"))
    assert "frames.wish.0" in _broken(tmp_path, lambda d: d["frames"].update(wish=["{action"]))
    (tmp_path / "bad.yaml").write_text("words: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_vocabulary(tmp_path / "bad.yaml")


def test_a_sentence_of_the_evaluated_set_is_drawn_again():
    """Decontamination: the grammar was written apart from the independent set, but what it
    writes by chance is drawn again when it has the words of an evaluated instruction."""
    from saycan.sim.tasks import load_task
    from saycan.sim.tasks.independent_set import independent_tasks, says_an_evaluated_instruction
    from saycan.train.grammar import unseen_sentence

    evaluated = load_task(independent_tasks()[0]).instructions.independent[0]
    assert says_an_evaluated_instruction(evaluated.upper())
    assert says_an_evaluated_instruction(" ".join(reversed(evaluated.split())))
    assert not says_an_evaluated_instruction("put the red block in the blue bowl and dance")

    class Scripted:  # a writer whose first draws are evaluated instructions
        def __init__(self, texts: list[str]) -> None:
            self.texts = iter(texts)

        def sentence(self) -> str:
            return next(self.texts)

    assert unseen_sentence(Scripted([evaluated, evaluated, "stack them up"])) == "stack them up"
    assert unseen_sentence(Scripted([evaluated] * 25)) is None

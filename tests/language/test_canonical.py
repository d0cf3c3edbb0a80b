"""The canonical rewrite: people's words for the tabletop's objects, colours, groups and places
mapped to the world's own names, through the same vocabulary file the training grammar uses."""

from __future__ import annotations

import numpy as np
import pytest

from saycan.errors import ConfigError
from saycan.language.canonical import CanonicalRewriter
from saycan.language.vocabulary import load_vocabulary
from saycan.sim.tasks import Task, available_tasks, load_task
from saycan.world import COLOUR_NAMES, LOCATIONS, place_seen_from_robot


@pytest.fixture(scope="module")
def rewriter() -> CanonicalRewriter:
    return CanonicalRewriter()


@pytest.mark.parametrize(
    ("said", "canonical"),
    [
        ("Put the cube the colour of grass into the upper left corner.",
         "Put the green block into the top left corner."),
        ("place the tomato-coloured brick on the banana-colored cube",
         "place the red block on the yellow block"),
        ("Stack the Scarlet cube onto the grey brick", "Stack the red block onto the gray block"),
        ("drop the violet block in the dish that is the colour of the sky",
         "drop the purple block in the blue bowl"),
        ("Sort the warm-toned cubes into the basin", "Sort the warm blocks into the bowl"),
        ("put the bricks in cool colours in the aqua bowl", "put the cool blocks in the cyan bowl"),
        ("move it to the centre of the work surface", "move it to the middle"),
        ("slide the block to the far side of the table", "slide the block to the top side"),
    ],
)  # fmt: skip
def test_references_are_rewritten_to_the_worlds_names(rewriter, said, canonical):
    assert rewriter.rewrites(said) == (canonical,)


def test_places_said_from_the_robot_map_to_the_named_place(rewriter):
    # The robot stands at the near edge: its right and near are the bottom right corner.
    assert place_seen_from_robot("bottom right corner") == ("near", "right")
    said = "put the red block in the corner nearest you on your right"
    assert rewriter.rewrites(said) == ("put the red block in the bottom right corner",)
    for place in LOCATIONS:
        if place.endswith("corner"):
            depth, side = place_seen_from_robot(place)
            near_far = "nearest you" if depth == "near" else "farthest from you"
            out = rewriter.rewrites(f"move the block to the {side} corner {near_far}")
            assert out == (f"move the block to the {place}",)


def test_text_in_the_worlds_words_has_no_rewrite(rewriter):
    for colour in COLOUR_NAMES:
        assert rewriter.rewrites(f"put the {colour} block in the top left corner") == ()
    assert rewriter.rewrites("robot, stack the blocks and then say done") == ()


def test_only_whole_words_change_and_the_rest_is_kept(rewriter):
    # "dishwasher" holds "dish", "Grayson" no colour word; verbs and punctuation are the writer's.
    said = "Kindly take the Dishwasher-safe cube to Grayson's corner (.*) now!"
    kept = "Kindly take the Dishwasher-safe block to Grayson's corner (.*) now!"
    assert rewriter.rewrites(said) == (kept,)


def test_hostile_text_is_only_substituted(rewriter):
    long = "put the cube " * 2000 + "{X} __import__('os') \x00 ☃"
    (out,) = rewriter.rewrites(long)
    assert out == "put the block " * 2000 + "{X} __import__('os') \x00 ☃"
    assert rewriter.rewrites("") == ()


def test_letters_that_fold_to_ascii_or_carry_accents_are_left_as_written(rewriter):
    # Case-insensitive matching meets "ſ" as "s" and "ı" as "i"; their lower case is no phrase.
    for said in ("put the pink cubeſ in the bowl", "put the dıshes away", "ſcarlet block"):
        assert rewriter.rewrites(said) == ()
    assert rewriter.rewrites("put the cube\u0301 away") == ()  # a decomposed accent: not "cube"


def test_a_bad_vocabulary_file_is_one_line(tmp_path):
    bad = tmp_path / "vocabulary.yaml"
    bad.write_text("words: [not, a, mapping]\n")
    with pytest.raises(ConfigError, match=r"vocabulary.yaml: key words: missing, or not a mapping"):
        CanonicalRewriter(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        CanonicalRewriter(tmp_path / "absent.yaml")
    for bad, shown in ((123, "123"), ("", "''"), ("  ", "'  '")):
        with pytest.raises(
            ConfigError, match=f"vocabulary must be a file path or null, got {shown}"
        ):
            CanonicalRewriter(bad)
    assert load_vocabulary().path.name == "vocabulary.yaml"


def test_words_the_seen_templates_say_are_kept_when_asked():
    known = CanonicalRewriter(keep_words_of="seen")
    # "the middle of the table", "warm-coloured", "cube" and "the right side of the table"
    # (a place role filled in) are seen-template words: the adapter was trained on them.
    for said in (
        "put the red block in the middle of the table",
        "put the warm-coloured blocks in the blue bowl",
        "put the red cube in the blue bowl",
        "put the blue block on the right side of the table",
    ):
        assert known.rewrites(said) == ()
        assert CanonicalRewriter().rewrites(said) != ()
    said = "put the tomato-coloured block on the banana-coloured block"
    assert known.rewrites(said) == ("put the red block on the yellow block",)


def test_an_unknown_text_to_keep_is_refused():
    with pytest.raises(ConfigError, match=r"keep_words_of must be null or one of \['seen'\]"):
        CanonicalRewriter(keep_words_of="unseen")


def test_keeping_the_seen_words_leaves_every_seen_and_unseen_colours_instruction_alone():
    """So those splits' figures cannot move with `keep_words_of=seen`: a decision without a
    rewrite is scored exactly as without a rewriter (tests/planner/test_scoring_options.py)."""
    known = CanonicalRewriter(keep_words_of="seen")
    checked = 0
    for name in available_tasks():
        spec = load_task(name)
        for split in ("seen", "unseen_colours"):
            try:
                task = Task(spec, split)
            except ConfigError:  # no free colour to hold out: the task has no such split
                continue
            for seed in (*range(5), *range(100000, 100005)):  # development and reported seeds
                instruction = task.sample(np.random.default_rng(seed)).instruction
                assert known.rewrites(instruction) == (), (name, split, seed)
                checked += 1
    assert checked >= 900

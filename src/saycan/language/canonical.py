"""The vocabulary read backwards: people's words for things on the table, mapped to the world's
own names ("the cube the colour of grass" -> "the green block", "the upper left corner" -> "the
top left corner", "the corner nearest you on your right" -> "the bottom right corner").

The training grammar (saycan.train.grammar) samples surface words from the vocabulary; this
module maps the same surface words back, so a planner can also score an instruction in the
words its skill calls use (`robot.pick_and_place(green block, top left corner)`). Only
references to objects, colours, colour groups and places are rewritten: verbs and frames carry
the request's meaning and stay as the person wrote them.

Matching is case-insensitive on whole words; the longest surface phrase wins; the rest of the
sentence is left byte for byte. Nothing is evaluated: the rewrite is string substitution.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from saycan.errors import ConfigError
from saycan.language.vocabulary import VOCABULARY_FILE, Vocabulary, load_vocabulary
from saycan.sim.tasks import available_tasks, load_task
from saycan.world import LOCATIONS, place_seen_from_robot

#: The words that join a noun to what its colour is like ("the cube the colour of grass").
LIKE_LINKS: tuple[str, ...] = (
    "the colour of", "the color of", "that is the colour of", "that is the color of",
    "coloured like", "colored like",
)  # fmt: skip
#: How a likeness is said before a noun ("the tomato-coloured block").
COLOURED: tuple[str, ...] = ("-coloured", "-colored", " coloured", " colored")
_ARTICLE = re.compile(r"^(?:a|an|the)\s+")
#: What may not touch a phrase for it to be whole words: a word character, a hyphen, or a
#: combining mark (a decomposed accent belongs to the letter before it).
_WORDLIKE = r"[\w\-\u0300-\u036f]"


def _bare(phrase: str) -> str:
    """`a tomato` -> `tomato`: how a likeness is said before `-coloured`."""
    return _ARTICLE.sub("", phrase)


def _expand(phrase: str, fills: dict[str, tuple[str, ...]]) -> list[str]:
    """Every filling of the `{slot}`s in `phrase` named in `fills` (others are left as they are)."""
    out = [phrase]
    for slot, values in fills.items():
        key = "{" + slot + "}"
        if key in phrase:
            out = [p.replace(key, value) for p in out for value in values]
    return out


def _said_in(phrase: str, text: str) -> bool:
    """Whether `text` (lower case) says `phrase` as whole words."""
    if phrase not in text:  # the cheap test first: most phrases appear nowhere
        return False
    return re.search(rf"(?<!{_WORDLIKE}){re.escape(phrase)}(?!{_WORDLIKE})", text) is not None


class _Pass:
    """One substitution pass: surface phrases (whole words, any case) -> canonical words;
    phrases said in `keep` are left as they are."""

    def __init__(self, table: dict[str, str], keep: str = ""):
        table = {" ".join(k.lower().split()): v for k, v in table.items()}
        self.table = {k: v for k, v in table.items() if k != v and not _said_in(k, keep)}
        phrases = sorted(self.table, key=len, reverse=True)
        body = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in phrases)
        whole = rf"(?<!{_WORDLIKE})(?:{body})(?!{_WORDLIKE})"  # "dish" never in "dishwasher"
        self.pattern = re.compile(whole, re.IGNORECASE) if body else None

    def __call__(self, text: str) -> str:
        if self.pattern is None:
            return text
        return self.pattern.sub(self._canonical, text)

    def _canonical(self, match: re.Match) -> str:
        """The canonical words; the text as written when case-insensitive matching met a
        letter whose lower case is not ASCII ("ſ" matches "s", "ı" matches "i")."""
        said = match.group(0)
        return self.table.get(" ".join(said.lower().split()), said)


class CanonicalWords:
    """Maps a text's references to the world's names, in three passes: nouns first (so the
    phrases built on a noun need only the canonical one), then phrases around a noun (likeness,
    colour group said after it), then single references (colour words, groups, places)."""

    def __init__(self, vocabulary: Vocabulary, keep: Iterable[str] = ()):
        v = vocabulary
        nouns: dict[str, str] = {}
        for noun, forms in v.nouns.items():
            nouns.update({s: noun for s in forms["one"]})
            nouns.update({s: noun + "s" for s in forms["many"]})
        around: dict[str, str] = {}
        references: dict[str, str] = {}
        for colour, forms in v.colours.items():
            references.update({w: colour for w in forms["words"]})
            for like in forms["like"]:
                for noun in ("block", "blocks", "bowl", "bowls"):
                    for link in LIKE_LINKS:
                        for said in {like, _bare(like)}:
                            around[f"{noun} {link} {said}"] = f"{colour} {noun}"
                references.update({_bare(like) + c: colour for c in COLOURED})
        for group, forms in v.groups.items():
            references.update({w: group for w in forms["words"]})
            for noun in ("blocks", "bowls"):
                around.update({f"{noun} {after}": f"{group} {noun}" for after in forms["after"]})
        table_words = {"table": v.words["table"]}
        for place, forms in v.places.items():
            for form in forms:
                references.update({s: f"the {place}" for s in _expand(form, table_words)})
            references.update({s: f"the {place}" for s in self._from_robot(v, place)})
        known = "\n".join(" ".join(t.lower().split()) for t in keep)
        self.passes = (_Pass(nouns, known), _Pass(around, known), _Pass(references, known))

    @staticmethod
    def _from_robot(v: Vocabulary, place: str) -> Iterable[str]:
        """Every way the grammar says `place` from the robot's point of view."""
        depth, lateral = place_seen_from_robot(place)
        fills = {"near_far": v.near_far[depth] if depth else ("",), "your_side": (lateral,)}
        return [" ".join(s.split()) for f in v.from_robot_forms(place) for s in _expand(f, fills)]

    def rewrite(self, text: str) -> str:
        for substitute in self.passes:
            text = substitute(text)
        return text


def seen_templates() -> tuple[str, ...]:
    """Every `seen` template of the packaged suite, its place roles filled with each place they
    may name (object roles stay slots): the words the planner adapter was trained on
    (docs/planning.md)."""
    out = []
    for name in available_tasks():
        spec = load_task(name)
        places = {
            role: r.choices or tuple(LOCATIONS)
            for role, r in spec.roles.items()
            if r.category == "location"
        }
        for template in spec.instructions.seen:
            slots = [role for role in places if "{" + role + "}" in template]
            for fill in itertools.product(*(places[role] for role in slots)):
                text = template
                for role, place in zip(slots, fill, strict=True):
                    text = text.replace("{" + role + "}", place)
                out.append(text)
    return tuple(out)


#: What `keep_words_of` may name: texts whose phrases are never rewritten.
KEPT_TEXTS = {"seen": seen_templates}


@lru_cache(maxsize=8)
def _canonical_words(vocabulary: Path, keep_words_of: str | None) -> CanonicalWords:
    """Built once per process (about 0.4 s): every planner of a sweep shares it; it holds no
    state between rewrites."""
    keep = KEPT_TEXTS[keep_words_of]() if keep_words_of else ()
    return CanonicalWords(load_vocabulary(vocabulary), keep)


class CanonicalRewriter:
    """An instruction rewriter (planner.saycan's `rewriter`): the instruction in the world's own
    names, when that differs from what was written. `keep_words_of=seen` leaves every phrase a
    seen template says (the adapter knows those words) and rewrites only the others."""

    def __init__(self, vocabulary: str | Path | None = None, keep_words_of: str | None = None):
        if vocabulary is not None and (
            not isinstance(vocabulary, (str, Path)) or not str(vocabulary).strip()
        ):
            raise ConfigError(
                f"planner.rewriter.vocabulary must be a file path or null, got {vocabulary!r}"
            )
        if keep_words_of is not None and keep_words_of not in KEPT_TEXTS:
            raise ConfigError(
                f"planner.rewriter.keep_words_of must be null or one of {sorted(KEPT_TEXTS)}, "
                f"got {keep_words_of!r}"
            )
        path = Path(vocabulary) if vocabulary is not None else VOCABULARY_FILE
        self.words = _canonical_words(path, keep_words_of)

    def rewrites(self, instruction: str) -> tuple[str, ...]:
        canonical = self.words.rewrite(instruction)
        return (canonical,) if canonical != instruction else ()

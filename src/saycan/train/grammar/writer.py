"""Writing an instruction for one task instance from its goal, in words the vocabulary gives.

The meaning comes from the task spec's goal and milestones and from the sampled scene (which
objects the roles are bound to, what is held, what rests on what), never from the task's
templates, so a sentence says what the expert will do. Each goal predicate becomes a clause
(`_Clause`): a goal kind with its objects; clauses are joined into a sequence and put in a
frame (imperative, question, wish, or a statement of the state wanted). References by role
("the block in your hand", "the only bowl") are offered only where the scene makes them true.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from saycan.errors import ConfigError
from saycan.language.vocabulary import STATE_KINDS, Vocabulary
from saycan.sim.tasks.instance import CORNERS, TaskInstance
from saycan.sim.tasks.spec import ANY, EACH, PredicateSpec, Selector, TaskSpec, expand_colours
from saycan.world import CATEGORIES, COLOUR_GROUPS, place_seen_from_robot

SLOT = re.compile(r"\{([A-Za-z_]+)\}")
#: Share of sentences put in each frame (the rest imperative).
FRAME_SHARES = {"question": 0.2, "wish": 0.2, "state": 0.2}
#: Share of references made by role where one is true, by description ("the colour of grass"),
#: and of places named from the robot's point of view where the place has one.
ROLE_SHARE, DESCRIPTION_SHARE, FROM_ROBOT_SHARE = 0.4, 0.15, 0.3
PHRASAL_IT = re.compile(r"\b(pick|lift) (up) it\b")
NUMBERS = ("zero", "one", "two", "three", "four", "five", "six")


def unexpressible(spec: TaskSpec) -> str | None:
    """Why the grammar cannot say this task's meaning (it falls back to the task's templates),
    or None. The goal alone does not say what an ambiguous or infeasible request asked for, and
    tasks about reach name objects as any other task does: reach is the affordance's business."""
    if spec.family == "ambiguous":
        return "the request is deliberately ambiguous; the goal is one reading of it"
    if any(r.absent for r in spec.roles.values()):
        return "the request names an object the scene lacks; the goal is to do nothing"
    if any(not r.reachable for r in spec.roles.values()):
        return "the goal depends on which objects the arm can reach"
    states = spec.milestones.states if spec.milestones is not None else ()
    for p in (*spec.goal, *states):
        if p.pred == "nothing_moved" and p.each is None:
            return "nothing_moved over named objects or the whole scene"
        for sel in (p.each, p.any):
            if sel is not None and (sel.exclude or sel.reachable is not None):
                return "a selector that excludes roles or filters by reach"
        if p.pred == "line" and p.each is None:
            return "a line of named blocks"
        if p.pred == "tower" and len(p.args) == 1:
            return "a one-block tower"
        if p.each is not None and p.pred not in ("in", "at", "line", "nothing_moved"):
            return f"{p.pred} over a set of objects"
        if p.each is not None and p.pred == "at" and (p.any is None or not p.distinct):
            return "at() over a set of objects, other than one per place"
        if p.any is not None and (
            p.any.colour is not None
            or p.any.category == "location"
            and (not p.distinct or set(p.any.choices or ()) != set(CORNERS))
        ):
            return "a choice among places other than one corner each, or among coloured objects"
    if spec.milestones is not None and spec.milestones.order == "unordered":
        if (
            any(p.pred != "at" for p in states)
            or len({p.args[0] for p in states}) != 1
            or {p.args[1] for p in states} != set(CORNERS)
        ):
            return "unordered milestones other than one block visiting every corner"
    return None


@dataclass
class _Clause:
    """One request: a goal kind, the object it moves (`x`, a scene name) or a phrase for a set
    of objects (`x_text`), and its target (`y`: a scene name or a place)."""

    kind: str
    x: str | None = None
    x_text: str | None = None
    y: str | None = None
    y_is_place: bool = False
    slots: dict[str, str] = field(default_factory=dict)
    many: bool = False


class Writer:
    """Writes sentences for one instance; every choice is drawn from `rng`."""

    def __init__(self, vocab: Vocabulary, instance: TaskInstance, rng: np.random.Generator):
        self.v, self.inst, self.rng = vocab, instance, rng
        self.objects = {o.name: o for o in instance.objects}
        # role -> ("closest" | "farthest", reference object) for roles chosen by where they stand
        self.nearness = {
            str(instance.bindings[r]): (rs.nearness[0], str(instance.bindings[rs.nearness[1]]))
            for r, rs in instance.spec.roles.items()
            if rs.nearness is not None
        }
        self.nouns: dict[str, int] = {}

    # -- words ---------------------------------------------------------------------------------
    def pick(self, options: tuple[str, ...] | list[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def noun(self, category: str, number: str = "one") -> str:
        """One synonym per category and number for the whole sentence."""
        if category not in self.nouns:  # the same synonym in the singular and the plural
            self.nouns[category] = int(self.rng.integers(len(self.v.nouns[category]["one"])))
        options = self.v.nouns[category][number]
        return options[self.nouns[category] % len(options)]

    def fill(self, phrase: str, slots: dict[str, str] | None = None, depth: int = 0) -> str:
        """Fill `{slot}`s from `slots`, the nouns (`{block}`, `{bowls}`) and `words`."""
        slots = slots or {}

        def one(m: re.Match[str]) -> str:
            name = m.group(1)
            if name in slots:
                return slots[name]
            for cat in CATEGORIES:
                if name in (cat, cat + "s"):
                    return self.noun(cat, "many" if name.endswith("s") else "one")
            if name in self.v.words and depth < 4:
                return self.fill(self.pick(self.v.words[name]), slots, depth + 1)
            raise ConfigError(f"{self.v.path}: key {{{name}}}: a phrase names an unknown slot")

        return SLOT.sub(one, phrase)

    # -- references ----------------------------------------------------------------------------
    def colour_word(self, colour: str) -> str:
        return self.pick(self.v.colours[colour]["words"])

    def plain(self, name: str) -> str:
        """`blue cube`: a colour and a noun, no article (inside another reference)."""
        colour, category = name.split()[0], name.split()[-1]
        return f"{self.colour_word(colour)} {self.noun(category)}"

    def ref(self, name: str, roles: bool = True) -> str:
        """A phrase naming the object `name`: by colour, by a description of its colour, or by
        a role that is true in this scene (held, the only one of its kind, under another
        block, in a bowl, the closest to / farthest from another object)."""
        colour, category = name.split()[0], name.split()[-1]
        noun = self.noun(category)
        options: list[str] = []
        if roles:
            r = self.v.roles
            if name == self.inst.held:
                options += [self.fill(p, {"noun": noun}) for p in r["held"]]
            if [o.name for o in self.inst.objects if o.category == category] == [name]:
                options += [self.fill(p, {"noun": noun}) for p in r["only"]]
            above = [o.name for o in self.inst.objects if o.on == name and o.category == "block"]
            if category == "block" and above:
                options += [
                    self.fill(p, {"noun": noun, "other": self.plain(above[0])}) for p in r["under"]
                ]
            support = self.objects[name].on if name in self.objects else None
            if support is not None and support.endswith("bowl"):
                options += [
                    self.fill(p, {"noun": noun, "other": self.plain(support)}) for p in r["in_bowl"]
                ]
            if name in self.nearness:
                kind, reference = self.nearness[name]
                target = self.ref(reference, roles=False)
                options += [self.fill(p, {"noun": noun, "ref": target}) for p in r[kind]]
        if options and self.rng.random() < ROLE_SHARE:
            return self.pick(options)
        if self.rng.random() < DESCRIPTION_SHARE:
            like = self.pick(self.v.colours[colour]["like"])
            link = self.pick(("the colour of", "that is the colour of", "coloured like"))
            return f"the {noun} {link} {like}"
        return f"the {self.colour_word(colour)} {noun}"

    def place(self, name: str) -> tuple[str, str]:
        """(phrase, preposition) for a named place: its name or a synonym, or where it lies
        from the robot's point of view."""
        depth, lateral = place_seen_from_robot(name)
        kind = "corner" if name.endswith("corner") else "side" if name.endswith("side") else name
        prep = self.fill("{at_" + kind + "}")
        options = self.v.from_robot_forms(name)
        if options and self.rng.random() < FROM_ROBOT_SHARE:
            near_far = self.pick(self.v.near_far[depth]) if depth else ""
            text = self.fill(self.pick(options), {"near_far": near_far, "your_side": lateral})
            return text, ("on" if kind == "side" else prep)
        return self.fill(self.pick(self.v.places[name])), prep

    def group(self, sel: Selector) -> tuple[str, bool]:
        """(phrase, plural) for the blocks a selector ranges over: `the warm-coloured blocks`,
        `every block in cool colours`, `the red and yellow cubes`, `all three blocks`."""
        members = self.inst.select(sel)
        many, one = self.noun("block", "many"), self.noun("block")
        if isinstance(sel.colour, str) and sel.colour in COLOUR_GROUPS:
            g = self.v.groups[sel.colour]
            options = [
                (f"the {self.pick(g['words'])} {many}", True),
                (f"all the {self.pick(g['words'])} {many}", True),
                (f"the {many} {self.pick(g['after'])}", True),
                (f"every {one} {self.pick(g['after'])}", False),
            ]
        elif sel.colour is None:
            options = [
                (f"all the {many}", True),
                (f"every {one}", False),
                (f"each of the {many}", True),
                (f"all {NUMBERS[len(members)]} {many}", True),
                (f"the {many}", True),
            ]
        else:
            options = []
        if members and (sel.colour is not None or not options) and self.rng.random() < 0.3:
            options = []  # name the members by colour instead
        if not options:
            if not members:
                colours = list(expand_colours(sel.colour) or ())
                return f"any {' or '.join(colours)} {many}", True
            words = [self.colour_word(m.split()[0]) for m in members]
            listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
            return (
                (f"the {listed} {many}", True)
                if len(words) > 1
                else (
                    f"the {listed} {one}",
                    False,
                )
            )
        return options[int(self.rng.integers(len(options)))]

    # -- meaning -------------------------------------------------------------------------------
    def clauses(self) -> list[_Clause]:
        spec, out = self.inst.spec, []
        if spec.milestones is not None:
            states = spec.milestones.states
            if spec.milestones.order == "unordered":
                out.append(_Clause("visit_all", x=str(self.inst.bindings[states[0].args[0]])))
            else:
                for p in states:
                    out += self.clause(p)
        for p in spec.goal:
            out += self.clause(p)
        return out

    def clause(self, p: PredicateSpec) -> list[_Clause]:
        b = self.inst.bindings
        args = [str(b.get(a, a)) for a in p.args]
        if p.pred == "all_in_matching_bowl":
            bowls = {o.colour for o in self.inst.objects if o.category == "bowl"}
            pairs = [o for o in self.inst.objects if o.category == "block" and o.colour in bowls]
            if len(pairs) > 1 and self.rng.random() < 0.4:  # each pair said by name
                order = self.rng.permutation(len(pairs))
                return [_Clause("in", x=pairs[i].name, y=f"{pairs[i].colour} bowl") for i in order]
            return [_Clause("matching")]
        if p.pred == "tower":
            return [self.tower(args) if args else _Clause("stack_all")]
        if p.pred == "line":
            text, many = self.group(p.each)
            return [_Clause(f"line_{p.axis}", x_text=text, many=many)]
        if p.pred == "nothing_moved":  # beside a quantified goal: the others stay (optional)
            if self.rng.random() < 0.5:
                return []
            text, many = self.group(p.each)
            return [_Clause("leave_rest", x_text=text, many=many)]
        if p.pred == "offset":
            return [_Clause(f"offset_{p.side}", x=args[0])]
        if EACH in p.args:
            if ANY in p.args:
                if p.any.category == "location":
                    return [_Clause("each_own_corner")]
                return [_Clause("each_own_bowl" if p.distinct else "all_in_bowls")]
            text, many = self.group(p.each)
            return [_Clause("all_in", x_text=text, y=args[1], many=many)]
        kind = f"beside_{p.side}" if p.pred == "beside" else p.pred
        is_place = p.pred == "at"
        return [_Clause(kind, x=args[0], y=args[1], y_is_place=is_place)]

    def tower(self, names: list[str]) -> _Clause:
        refs = [self.ref(n) for n in names]
        colours = [self.colour_word(n.split()[0]) for n in names]
        sep = self.pick((", then ", ", ", " then "))
        shuffled = [colours[i] for i in self.rng.permutation(len(colours))]
        slots = {
            "first": refs[0],
            "last": refs[-1],
            "middle": "".join(f"then {r}, " for r in refs[1:-1]) + "and ",
            "middle_down": "".join(f"then {r}, " for r in reversed(refs[1:-1])) + "and ",
            "list": sep.join(refs),
            "list_down": sep.join(reversed(refs)),
            "set": ", ".join(shuffled[:-1]) + " and " + shuffled[-1],
            "colours_in_order": sep.join(colours),
            "colours_down": sep.join(reversed(colours)),
        }
        return _Clause(self.pick(("tower_up", "tower_down")), slots=slots)

    # -- sentences -----------------------------------------------------------------------------
    def _xy_slots(self, c: _Clause, pronoun: bool) -> dict[str, str]:
        slots = dict(c.slots)
        slots["X"] = "it" if pronoun else (self.ref(c.x) if c.x else c.x_text or "")
        if c.y is not None:
            if c.y_is_place:
                slots["Y"], slots["at"] = self.place(c.y)
            else:
                slots["Y"] = self.ref(c.y)
        return slots

    def action(self, c: _Clause, pronoun: bool = False, initial: bool = False) -> str:
        """A verb phrase for the clause; `initial`: it starts the sentence, so a phrase with
        its place said first ("into the bowl, put ...") may be used."""
        phrases = self.v.goals[c.kind]["action"]
        if initial and "fronted" in self.v.goals[c.kind] and self.rng.random() < 0.25:
            phrases = self.v.goals[c.kind]["fronted"]
        text = self.fill(self.pick(phrases), self._xy_slots(c, pronoun))
        return PHRASAL_IT.sub(r"\1 it \2", text)  # "pick up it" -> "pick it up"

    def actions(self, clauses: list[_Clause], periods: bool, initial: bool) -> str:
        seq = {
            k: [f for f in v if periods or "." not in f] or list(v)
            for k, v in self.v.sequence.items()
        }
        same = [
            i > 0 and c.x is not None and c.x == clauses[i - 1].x for i, c in enumerate(clauses)
        ]
        if len(clauses) == 2 and same[1] and self.rng.random() < 0.3:
            later, earlier = self.action(clauses[1]), self.action(clauses[0], pronoun=True)
            forms = seq["reversed"] + (seq["before"] if initial else [])
            return self.fill(self.pick(forms), {"a": earlier, "b": later})
        said = [
            self.action(c, pronoun=same[i] and self.rng.random() < 0.6, initial=initial)
            for i, c in enumerate(clauses)
        ]
        if len(said) == 1:
            return said[0]
        if len(said) == 2:
            return self.fill(self.pick(seq["two"]), {"a": said[0], "b": said[1]})
        text = said[0]
        for s in said[1:-1]:
            text = self.fill(self.pick(seq["more"]), {"a": text, "b": s})
        return self.fill(self.pick(seq["last"]), {"a": text, "b": said[-1]})

    def sentence(self) -> str:
        clauses = self.clauses()
        r, frame, acc = self.rng.random(), "imperative", 0.0
        for name, share in FRAME_SHARES.items():
            acc += share
            if r < acc:
                frame = name
                break
        if frame == "state" and len(clauses) == 1 and clauses[0].kind in STATE_KINDS:
            c = clauses[0]
            slots = self._xy_slots(c, pronoun=False)
            where = self.fill(self.pick(self.v.goals[c.kind]["where"]), slots)
            text = self.fill(
                self.pick(self.v.frames["state"]),
                {
                    "subject": slots["X"],
                    "where": where,
                    "ends": self.pick(self.v.ends["many" if c.many else "one"]),
                },
            )
        else:
            frame = "imperative" if frame == "state" else frame
            shape = self.pick(self.v.frames[frame])
            action = self.actions(
                clauses,
                periods=frame == "imperative",
                initial=shape.startswith("{action}") and len(clauses) == 1,
            )
            text = self.fill(shape, {"action": action})
        text = " ".join(text.split())
        if self.rng.random() < 0.3:
            text = text[0].upper() + text[1:]
        if not text.endswith("?") and self.rng.random() < 0.2:
            text += "."
        return text

"""The `synthetic` dataset: seeded GSM8K-style word problems with exact gold Socratic traces.

It needs no download, so it is the default for smoke tests, and its `test-hard` split (5-8
steps by default, against 2-4 elsewhere) measures how a decomposition habit carries over to
longer chains. A problem is a chain of integer quantities told as one of three stories: people
compared with each other, an activity over days, weeks or months, or a collection that changes.
Each step computes one new quantity with one GSM8K calculator annotation
(`Leo has 12+5 = <<12+5=17>>17 stickers.`); distractor sentences add irrelevant numbers.

Split `s` under seed `n` is the stream of `random.Random("synthetic:n:s")`. A candidate is kept
only when the CRC32 of its opening sentence falls in its split's bucket, so no question text
(not even an opening) occurs in two splits; `--limit k` is the first k problems of the stream.
Options (`--dataset-option key=value`) are the fields of `SyntheticConfig`; `socratic_text`
renders a problem's gold steps in GSM8K's socratic format.
"""

from __future__ import annotations

import itertools
import random
import re
import zlib
from collections.abc import Iterator
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from socratic_distill.data.registry import register_dataset
from socratic_distill.errors import UserError, did_you_mean
from socratic_distill.schemas import Problem, Step

SPLITS = ("train", "validation", "test", "test-hard")
MAX_STEPS = 8
# CRC32(opening sentence) % 100 decides which split may hold a question.
_BUCKETS = {"train": (0, 55), "validation": (55, 70), "test": (70, 85), "test-hard": (85, 100)}


class SyntheticConfig(BaseModel):
    """The knobs of the generator; every split is a pure function of them and the split name."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="Seed of every split's stream; another seed, other problems.")
    min_steps: int = Field(2, ge=1, le=MAX_STEPS, description="Fewest steps in train/valid/test.")
    max_steps: int = Field(4, ge=1, le=MAX_STEPS, description="Most steps in train/valid/test.")
    hard_min_steps: int = Field(5, ge=1, le=MAX_STEPS, description="Fewest steps in test-hard.")
    hard_max_steps: int = Field(8, ge=1, le=MAX_STEPS, description="Most steps in test-hard.")
    max_number: int = Field(
        100, ge=10, le=100_000, description="Largest given number; results stay <= 10x this."
    )
    distractors: float = Field(
        0.5, ge=0, le=3, description="Mean number of irrelevant sentences with numbers."
    )
    later_facts: int = Field(
        0, ge=0, le=MAX_STEPS - 1, description="Up to this many more of the story's steps told "
        "after the quantity the question asks for (uniformly 0..N per problem): the next step is "
        "found by reading on from the last one, not by counting back from the question."
    )
    shuffle_facts: float = Field(
        0.0, ge=0, le=1, description="Share of the stories about people or periods whose facts "
        "are told in a random order (each names whom or which period it compares with, so the "
        "story stays the same; events keep their order): the next step is found by the name it "
        "refers to, not by where it stands."
    )
    quote_facts: bool = Field(
        False, description="Each gold subquestion starts with the story's sentence it resolves "
        "(`Diego collected twice as many rocks as Jonah. How many rocks did Diego collect?`): "
        "the next step is the sentence after the last one quoted, found by copying, not by "
        "counting; the questions stay the same."
    )
    train_size: int = Field(10_000, ge=0, description="Problems in `train`.")
    validation_size: int = Field(500, ge=0, description="Problems in `validation`.")
    test_size: int = Field(1000, ge=0, description="Problems in `test`.")
    test_hard_size: int = Field(500, ge=0, description="Problems in `test-hard`.")

    @model_validator(mode="after")
    def _check_ranges(self) -> SyntheticConfig:
        lo, hi = self.min_steps, self.max_steps
        hard_lo, hard_hi = self.hard_min_steps, self.hard_max_steps
        if lo > hi:
            raise ValueError(f"`min_steps` ({lo}) exceeds `max_steps` ({hi})")
        if hard_lo > hard_hi:
            raise ValueError(f"`hard_min_steps` ({hard_lo}) exceeds `hard_max_steps` ({hard_hi})")
        if hard_lo <= hi:
            raise ValueError(
                f"`hard_min_steps` ({hard_lo}) must exceed `max_steps` ({hi}):"
                " test-hard holds longer chains than training"
            )
        return self

    def size(self, split: str) -> int:
        return getattr(self, split.replace("-", "_") + "_size")

    def step_range(self, split: str) -> tuple[int, int]:
        if split == "test-hard":
            return self.hard_min_steps, self.hard_max_steps
        return self.min_steps, self.max_steps


def parse_options(options: dict[str, Any] | None) -> SyntheticConfig:
    """Validate `--dataset-option` values (strings are fine); a bad one is a `UserError`."""
    cleaned = {str(key).strip().replace("-", "_"): value for key, value in (options or {}).items()}
    try:
        return SyntheticConfig(**cleaned)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        if first["type"] == "extra_forbidden":
            known = list(SyntheticConfig.model_fields)
            message = f"unknown option `{field}`{did_you_mean(field, known)}; options: {', '.join(known)}"
        elif field:
            message = f"option `{field}`: {first['msg']} (got {first['input']!r})"
        else:  # a cross-field check: its message names the fields
            message = str(first.get("ctx", {}).get("error", first["msg"]))
        raise UserError(f"dataset `synthetic`: {message}") from None


# ---------------------------------------------------------------------------------------------
# Vocabulary. Pronouns matter: other people and relatives are of the other gender than the
# protagonist, so `she`/`he` in a story always means the protagonist.

_FEMALE = (
    "Mia Ava Emma Olivia Sophia Lily Chloe Zoe Nora Grace Ruby Hannah Maya Aisha Priya Lucia "
    "Elena Sara Leila Yuki Fatima Rosa Nadia Ines Amara Julia Tessa Ivy Clara Mei"
).split()
_MALE = (
    "Leo Noah Liam Ethan Jack Omar Ben Sam Max Lucas Mateo Ravi Kenji Diego Hugo Felix Tom "
    "Arjun Malik Jamal Carlos Ivan Theo Owen Ali Kofi Marco Daniel Finn Jonah"
).split()
_NAMES = {"f": _FEMALE, "m": _MALE}
_OTHER = {"f": "m", "m": "f"}
_PRONOUNS = {"f": ("she", "her", "her"), "m": ("he", "him", "his")}  # subject, object, possessive
_RELATIVES = {"f": ("aunt", "sister", "grandmother"), "m": ("uncle", "brother", "grandfather")}

_COLLECTIBLES = (
    "stickers", "marbles", "seashells", "stamps", "baseball cards", "coins", "beads", "toy cars",
    "comic books", "postcards", "crayons", "pencils", "books", "trading cards", "keychains",
)  # fmt: skip
# (finite verb, auxiliary, base form, things) of an activity a person can be compared on.
_HAS = ("has", "does", "have", (*_COLLECTIBLES, "money"))
_PAST_ACTIVITIES = (
    ("collected", "did", "collect", ("seashells", "stamps", "rocks", "bottle caps", "pine cones")),
    ("picked", "did", "pick", ("apples", "strawberries", "oranges", "tomatoes", "peaches")),
    ("baked", "did", "bake", ("cookies", "muffins", "cupcakes", "pies", "loaves of bread")),
    ("sold", "did", "sell", ("raffle tickets", "cups of lemonade", "candles", "bracelets")),
    ("earned", "did", "earn", ("money",)),
    ("saved", "did", "save", ("money",)),
    ("read", "did", "read", ("pages", "books", "chapters")),
    ("ran", "did", "run", ("miles", "laps")),
    ("scored", "did", "score", ("points", "goals")),
    ("made", "did", "make", ("bracelets", "paper cranes", "sandwiches", "necklaces")),
    ("planted", "did", "plant", ("trees", "tulips", "sunflowers", "rose bushes")),
    ("wrote", "did", "write", ("pages", "letters", "poems")),
    ("caught", "did", "catch", ("fish",)),
    ("swam", "did", "swim", ("laps",)),
)
_PEOPLE_ACTIVITIES = (_HAS, _HAS, *_PAST_ACTIVITIES)
# (actor, finite verb, auxiliary, base form, things) for stories about a business.
_ORGS = (
    ("the bakery", "sold", "did", "sell", ("muffins", "loaves of bread", "croissants", "pies")),
    ("the farm stand", "sold", "did", "sell", ("pumpkins", "jars of honey", "melons")),
    ("the bookstore", "sold", "did", "sell", ("books", "magazines", "calendars")),
    ("the movie theater", "sold", "did", "sell", ("tickets", "bags of popcorn")),
    ("the school cafeteria", "served", "did", "serve", ("lunches", "bowls of soup")),
    ("the library", "lent out", "did", "lend out", ("books", "DVDs")),
    ("the toy factory", "made", "did", "make", ("teddy bears", "toy trains", "kites")),
    ("the car wash", "washed", "did", "wash", ("cars",)),
    ("the lemonade stand", "earned", "did", "earn", ("money",)),
)
_DAYS = tuple(f"on {d}day" for d in "Mon Tues Wednes Thurs Fri Satur Sun".split())
_MONTH_NAMES = "January February March April May June July August September October November"
_MONTHS = tuple(f"in {m}" for m in (*_MONTH_NAMES.split(), "December"))
_ORDINALS = "first second third fourth fifth sixth seventh eighth ninth".split()
_WEEKS = tuple(f"in the {o} week" for o in _ORDINALS)

_TIMES = {2: "twice", 3: "three times", 4: "four times", 5: "five times"}
_PART = {2: "half", 3: "a third", 4: "a quarter", 5: "a fifth"}
_FRACTIONS = {
    (2, 3): "two thirds", (3, 4): "three quarters", (2, 5): "two fifths", (3, 5): "three fifths",
    (4, 5): "four fifths",
}  # fmt: skip
_FRACTION_KEYS = tuple(_FRACTIONS)
_PERCENT_NEED = {10: 10, 20: 5, 25: 4, 50: 2}  # v * p / 100 is whole when v is a multiple

# Clauses of the changing-collection story, present tense: s/o/p pronouns, k number.
_EVENTS = {
    "add": (
        "{s} buys {k} more", "{other} gives {o} {k} more", "{s} finds {k} more",
        "{s} gets {k} more for {p} birthday", "{s} wins {k} more at the school fair",
    ),
    "sub": (
        "{s} gives {k} to {other}", "{s} loses {k}", "{s} sells {k} of them",
        "{s} trades {k} of them to {other}",
    ),
    "mul": (
        "{s} buys enough to have {times} as many as before",
        "{p} {rel} gives {o} enough to make {p} collection {times} as big",
    ),
    "div": (
        "{s} keeps {part} of them and donates the rest",
        "{s} splits them equally into {k} boxes and keeps one box",
    ),
    "frac": (
        "{s} keeps {frac} of them and gives the rest to {other}",
        "{s} gives away all but {frac} of them",
    ),
    "pct-": ("{s} gives away {k}% of them", "{s} loses {k}% of them"),
    "pct+": ("{p} collection grows by {k}%",),
}  # fmt: skip
_CONNECTIVES = ("", "Then ", "Later, ", "The next day, ", "After that, ")
_EVENT_STARTS = ("{a} has {q}.", "{a} has a collection of {q}.", "{a} starts the day with {q}.")
_EVENT_ENDS = ("now", "in the end", "after all that")
_ALTOGETHER = ("altogether", "in total", "in all")

# Irrelevant sentences: (template, smallest number, largest or None for max_number).
_PERSON_DISTRACTORS = (
    ("{x} is {n} years old.", 8, 60),
    ("{x}'s {rel} lives {n} miles away.", 2, 300),
    ("{x} lives {n} miles from the {place}.", 2, 30),
    ("It takes {x} {n} minutes to walk to the {place}.", 5, 60),
    ("{x} also has {n} {noun}.", 2, None),
    ("{x}'s {rel} has {n} {noun}.", 2, None),
)
_ORG_DISTRACTORS = (
    ("{X} has {n} employees.", 3, 40),
    ("{X} opened {n} years ago.", 2, 60),
    ("{X} is {n} miles from the {place}.", 2, 30),
    ("{X} is open {n} hours a day.", 6, 12),
)
_PLACES = ("park", "library", "school", "store", "beach", "museum", "train station")
_DISTRACTOR_NOUNS = ("cousins", "houseplants", "pairs of shoes", "hats", "umbrellas")


class Thing(NamedTuple):
    """How a counted noun (or money) is written in every phrase a story needs."""

    how: str  # How many apples / How much money
    q: str  # "{} apples" / "${}": a quantity
    more: str  # "{} more apples" / "${} more"
    fewer: str  # "{} fewer apples" / "${} less"
    many: str  # "many apples" / "much money", as in "twice as many apples as"
    pmore: str  # "more apples" / "more money", as in "25% more apples than"
    pfewer: str
    hmore: str  # "How many more apples" / "How much more money"
    hfewer: str


def _thing(noun: str) -> Thing:
    if noun == "money":
        return Thing(
            "How much money", "${}", "${} more", "${} less", "much money", "more money",
            "less money", "How much more money", "How much less money",
        )  # fmt: skip
    return Thing(
        f"How many {noun}", "{} " + noun, "{} more " + noun, "{} fewer " + noun, f"many {noun}",
        f"more {noun}", f"fewer {noun}", f"How many more {noun}", f"How many fewer {noun}",
    )  # fmt: skip


_THINGS = {
    noun: _thing(noun)
    for noun in {
        *_COLLECTIBLES, "money",
        *(n for act in _PAST_ACTIVITIES for n in act[3]),
        *(n for org in _ORGS for n in org[4]),
    }
}  # fmt: skip


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


# ---------------------------------------------------------------------------------------------
# The arithmetic chain. Each op is (kind, param); the value fed to an op is made a multiple of
# what that op divides by, so every result is a whole number in [2, cap].

_KIND_POOL = ("add",) * 3 + ("sub",) * 3 + ("mul",) * 2 + ("div",) * 2 + ("frac", "pct")


def _pick(rng: random.Random, seq):
    # rng.choice() costs twice as much, and the generator calls it ~40 times a problem.
    return seq[int(rng.random() * len(seq))]


def _draw_op(rng: random.Random) -> tuple[str, Any]:
    kind = _pick(rng, _KIND_POOL)
    if kind == "mul":
        return kind, _pick(rng, (2, 2, 3, 3, 4, 5))
    if kind == "div":
        return kind, _pick(rng, (2, 2, 3, 4, 5))
    if kind == "frac":
        return kind, _pick(rng, _FRACTION_KEYS)
    if kind == "pct":
        return kind, (_pick(rng, (10, 20, 25, 50)), rng.random() < 0.5)
    return kind, None  # add/sub: the operand is picked when the input is known


def _need(op: tuple[str, Any]) -> int:
    kind, param = op
    if kind == "div":
        return param
    if kind == "frac":
        return param[1]
    if kind == "pct":
        return _PERCENT_NEED[param[0]]
    return 1


def _multiple_in(rng: random.Random, lo: int, hi: int, m: int) -> int | None:
    first = -(-lo // m) * m
    if first > hi:
        return None
    return first + m * int(rng.random() * ((hi - first) // m + 1))


def _apply(rng, kind, param, v, m_out, max_number, cap) -> tuple[Any, str, int] | None:
    """(param, expression, result) of one op on `v` whose result is a multiple of `m_out`."""
    if kind == "add":
        t = _multiple_in(rng, v + 2, min(v + max_number, cap), m_out)
        return None if t is None else (t - v, f"{v}+{t - v}", t)
    if kind == "sub":
        t = _multiple_in(rng, max(2, v - max_number), v - 2, m_out)
        return None if t is None else (v - t, f"{v}-{v - t}", t)
    if kind == "mul":
        out, expr = v * param, f"{v}*{param}"
    elif kind == "div":
        out, expr = v // param, f"{v}/{param}"
    elif kind == "frac":
        out, expr = v * param[0] // param[1], f"{v}*{param[0]}/{param[1]}"
    else:
        p, up = param
        out = v + v * p // 100 if up else v - v * p // 100
        expr = f"{v}{'+' if up else '-'}{v}*{p}/100"
    return (param, expr, out) if 2 <= out <= cap and out % m_out == 0 else None


_FALLBACKS = ((("add", None), ("sub", None)), (("sub", None), ("add", None)))


def _step(rng, op, v, nxt, max_number, cap) -> tuple[str, Any, str, int, bool]:
    """Apply `op` to `v`, else an add or a sub; prefer a result that is a multiple of `nxt`."""
    fallbacks = _FALLBACKS[rng.random() < 0.5]
    for m_out in (nxt, 1) if nxt > 1 else (1,):
        for kind, param in (op, *fallbacks):
            done = _apply(rng, kind, param, v, m_out, max_number, cap)
            if done:
                return kind, done[0], done[1], done[2], m_out == nxt
    raise AssertionError(f"no op applies to {v}")  # add or sub always does: cap >= 100


def _start(rng: random.Random, max_number: int) -> tuple[tuple[str, Any], int]:
    """The first op and a start value it can take (drawn before the rest of the chain, so a
    story can be dropped after its opening sentence)."""
    first = _draw_op(rng)
    m = _need(first)
    lo = 2 if m == 1 else 1
    return first, m * (lo + int(rng.random() * (max_number // m - lo + 1)))


def _chain(rng, first, start: int, n: int, max_number: int) -> list[tuple[str, Any, str, int]]:
    """`n` steps (kind, param, expression, result) from `start`, the first one `first`."""
    plan = [first] + [_draw_op(rng) for _ in range(n - 1)]
    cap, v = 10 * max_number, start
    steps = []
    for i, op in enumerate(plan):
        nxt = _need(plan[i + 1]) if i + 1 < n else 1
        kind, param, expr, v, fed = _step(rng, op, v, nxt, max_number, cap)
        if not fed:  # could not feed the next op a multiple of what it divides by
            plan[i + 1] = (_pick(rng, ("add", "sub")), None)
        steps.append((kind, param, expr, v))
    return steps


def _compare(thing: Thing, kind: str, param: Any) -> tuple[str, str]:
    """The comparison phrase of an op and its conjunction: ("5 more apples", "than")."""
    if kind == "add":
        return thing.more.format(param), "than"
    if kind == "sub":
        return thing.fewer.format(param), "than"
    if kind == "mul":
        return f"{_TIMES[param]} as {thing.many}", "as"
    if kind == "div":
        return f"{_PART[param]} as {thing.many}", "as"
    if kind == "frac":
        return f"{_FRACTIONS[param]} as {thing.many}", "as"
    p, up = param
    return f"{p}% {thing.pmore if up else thing.pfewer}", "than"


def _reverse(thing: Thing, kind: str, param: Any) -> tuple[str, str]:
    """The same op told from the known side: B = A + 5 as "A has 5 fewer than B"."""
    if kind == "add":
        return thing.fewer.format(param), "than"
    if kind == "sub":
        return thing.more.format(param), "than"
    if kind == "mul":
        return f"{_PART[param]} as {thing.many}", "as"
    return f"{_TIMES[param]} as {thing.many}", "as"


def _annotated(thing: Thing, expr: str, value: int) -> str:
    return thing.q.format(f"<<{expr}={value}>>{value}")


# ---------------------------------------------------------------------------------------------
# Stories. Each writes its opening sentence first and returns None at once when `fits` rejects
# it; else (sentences, final question, gold steps as (subq, solution, value, the sentence the
# step resolves or None), who distractors may talk about).


def _final_kind(rng: random.Random, k: int) -> str:
    if k >= 2 and rng.random() < 0.4:
        return "total" if rng.random() < 0.5 else "diff"
    return "chain"


def _difference(thing: Thing, first: int, last: int) -> tuple[str, str, str, int]:
    """How many more (or fewer) the last has than the first: question words, expr, answer."""
    big, small = max(first, last), min(first, last)
    how, phrase = (thing.hmore, thing.more) if last > first else (thing.hfewer, thing.fewer)
    expr = f"{big}-{small}"
    return how, expr, phrase.format(f"<<{expr}={big - small}>>{big - small}"), big - small


def _shuffled(rng: random.Random, config: SyntheticConfig) -> bool:
    """Whether this story's facts are told in a random order (the default draws nothing)."""
    return bool(config.shuffle_facts) and rng.random() < config.shuffle_facts


def _people_story(rng, k, config, fits):
    fin, aux, base, nouns = _pick(rng, _PEOPLE_ACTIVITIES)
    thing = _THINGS[_pick(rng, nouns)]
    plural, aux_pl = (base, "do") if aux == "does" else (fin, aux)
    final = _final_kind(rng, k)
    n = k - (final != "chain")
    first, start = _start(rng, config.max_number)
    gender = _pick(rng, "fm")
    names = rng.sample(_NAMES[gender], n + 1)
    sentences = []
    if len(names) <= 5 and rng.random() < 0.3:
        sentences.append(f"{_join(names)} are comparing {thing.how.lower()} they {plural}.")
    sentences.append(f"{names[0]} {fin} {thing.q.format(start)}.")
    if not fits(sentences[0]):
        return None
    steps = _chain(rng, first, start, n, config.max_number)
    shuffled = _shuffled(rng, config)
    gold = []
    for (kind, param, expr, value), known, new in zip(steps, names[:-1], names[1:], strict=True):
        if kind in ("add", "sub", "mul", "div") and rng.random() < 0.3:
            phrase, conj = _reverse(thing, kind, param)
            sentences.append(f"{known} {fin} {phrase} {conj} {new}.")
        else:
            phrase, conj = _compare(thing, kind, param)
            tail = f" {aux}" if rng.random() < 0.25 else ""
            sentences.append(f"{new} {fin} {phrase} {conj} {known}{tail}.")
        solution = f"{new} {fin} {expr} = {_annotated(thing, expr, value)}."
        gold.append((f"{thing.how} {aux} {new} {base}?", solution, value, sentences[-1]))
    if shuffled:
        facts = len(sentences) - 1 - n  # after an "are comparing" opening
        sentences[facts:] = rng.sample(sentences[facts:], n + 1)
    values = [start] + [step[3] for step in steps]
    if final == "diff" and values[-1] != values[0]:
        how, expr, ann, value = _difference(thing, values[0], values[-1])
        question = f"{how} {aux} {names[-1]} {base} than {names[0]}?"
        gold.append((question, f"{names[-1]} {fin} {expr} = {ann} than {names[0]}.", value, None))
    elif final != "chain":
        expr = "+".join(map(str, values))
        question = f"{thing.how} {aux_pl} {_join(names)} {base} {_pick(rng, _ALTOGETHER)}?"
        solution = f"Together, they {plural} {expr} = {_annotated(thing, expr, sum(values))}."
        gold.append((question, solution, sum(values), None))
    return sentences, gold[-1][0], gold, (names, gender)


def _periods_story(rng, k, config, fits):
    final = _final_kind(rng, k)
    n = k - (final != "chain")
    first, start = _start(rng, config.max_number)
    # Days run out after 7 (6 steps); months and weeks last for 8 steps.
    periods = _DAYS if n < 7 and rng.random() < 0.4 else _pick(rng, (_MONTHS, _WEEKS))
    offset = int(rng.random() * (len(periods) - n))
    periods = periods[offset : offset + n + 1]
    if rng.random() < 0.3:
        actor, fin, aux, base, nouns = _pick(rng, _ORGS)
        pronoun, who = "it", None
    else:
        fin, aux, base, nouns = _pick(rng, _PAST_ACTIVITIES)
        gender = _pick(rng, "fm")
        actor = _pick(rng, _NAMES[gender])
        pronoun, who = _PRONOUNS[gender][0], ([actor], gender)
    thing = _THINGS[_pick(rng, nouns)]
    quantity = thing.q.format(start)
    if rng.random() < 0.5:
        sentences = [f"{_cap(periods[0])}, {actor} {fin} {quantity}."]
    else:
        sentences = [f"{_cap(actor)} {fin} {quantity} {periods[0]}."]
    if not fits(sentences[0]):
        return None
    steps = _chain(rng, first, start, n, config.max_number)
    shuffled = _shuffled(rng, config)
    gold = []
    for (kind, param, expr, value), prev, per in zip(steps, periods[:-1], periods[1:], strict=True):
        phrase, conj = _compare(thing, kind, param)
        subject = actor if shuffled or rng.random() < 0.4 else pronoun  # no "she" before the name
        if rng.random() < 0.5:
            sentences.append(f"{_cap(per)}, {subject} {fin} {phrase} {conj} {prev}.")
        else:
            sentences.append(f"{_cap(subject)} {fin} {phrase} {per} {conj} {prev}.")
        solution = f"{_cap(actor)} {fin} {expr} = {_annotated(thing, expr, value)} {per}."
        gold.append((f"{thing.how} {aux} {actor} {base} {per}?", solution, value, sentences[-1]))
    if shuffled:
        sentences = rng.sample(sentences, len(sentences))
    values = [start] + [step[3] for step in steps]
    if final == "diff" and values[-1] != values[0]:
        how, expr, ann, value = _difference(thing, values[0], values[-1])
        end, begin = periods[-1], periods[0]
        question = f"{how} {aux} {actor} {base} {end} than {begin}?"
        solution = f"{_cap(actor)} {fin} {expr} = {ann} {end} than {begin}."
        gold.append((question, solution, value, None))
    elif final != "chain":
        expr = "+".join(map(str, values))
        question = f"{thing.how} {aux} {actor} {base} {_pick(rng, _ALTOGETHER)}?"
        solution = f"In total, {actor} {fin} {expr} = {_annotated(thing, expr, sum(values))}."
        gold.append((question, solution, sum(values), None))
    return sentences, gold[-1][0], gold, (who or actor)


def _event_clause(rng, kind, param, words, used: set[str]) -> str:
    if kind == "pct":
        kind, param = ("pct+" if param[1] else "pct-"), param[0]
    templates = _EVENTS[kind]
    if kind == "div" and param == 2:
        templates = (*templates, "{s} gives half of them to {other}")
    # A second birthday in one story reads oddly: prefer templates not used yet.
    templates = tuple(t for t in templates if t not in used) or templates
    template = _pick(rng, templates)
    used.add(template)
    if kind == "mul":
        return template.format(times=_TIMES[param], **words)
    if kind == "div":
        return template.format(part=_PART[param], k=param, **words)
    if kind == "frac":
        return template.format(frac=_FRACTIONS[param], **words)
    return template.format(k=param, **words)


def _events_story(rng, k, config, fits):
    thing = _THINGS[_pick(rng, _COLLECTIBLES)]
    first, start = _start(rng, config.max_number)
    gender = _pick(rng, "fm")
    owner = _pick(rng, _NAMES[gender])
    sentences = [_pick(rng, _EVENT_STARTS).format(a=owner, q=thing.q.format(start))]
    if not fits(sentences[0]):
        return None
    steps = _chain(rng, first, start, k, config.max_number)
    s, o, p = _PRONOUNS[gender]
    others = _NAMES[_OTHER[gender]]
    gold, used = [], set()
    for kind, param, expr, value in steps:
        words = {"s": s, "o": o, "p": p, "other": _pick(rng, others)}
        words["rel"] = _pick(rng, _RELATIVES[_OTHER[gender]])
        clause = _event_clause(rng, kind, param, words, used)
        sentences.append(_cap(_pick(rng, _CONNECTIVES) + clause) + ".")
        solution = f"After {clause}, {owner} has {expr} = {_annotated(thing, expr, value)}."
        asked = f"{thing.how} does {owner} have after {clause}?"
        gold.append((asked, solution, value, sentences[-1]))
    question = f"{thing.how} does {owner} have {_pick(rng, _EVENT_ENDS)}?"
    return sentences, question, gold, ([owner], gender)


_STORIES = (_people_story, _periods_story, _events_story)


def _distractor(rng: random.Random, about, max_number: int) -> str:
    """An irrelevant sentence about a business (`about` is its name) or a story's people
    (`about` is (names, gender))."""
    if isinstance(about, str):  # a business
        template, lo, hi = _pick(rng, _ORG_DISTRACTORS)
        return template.format(X=_cap(about), n=rng.randint(lo, hi), place=_pick(rng, _PLACES))
    names, gender = about
    template, lo, hi = _pick(rng, _PERSON_DISTRACTORS)
    return template.format(
        x=_pick(rng, names),
        n=rng.randint(lo, hi or max_number),
        rel=_pick(rng, _RELATIVES[_OTHER[gender]]),
        place=_pick(rng, _PLACES),
        noun=_pick(rng, _DISTRACTOR_NOUNS),
    )


def _opening(text: str) -> str:
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def _bucket(text: str) -> int:
    """Which split may hold a question: decided by its opening sentence alone, so that a story
    can be dropped as soon as that sentence is written."""
    return zlib.crc32(_opening(text).encode()) % 100


def _candidate(rng: random.Random, k: int, config: SyntheticConfig, fits):
    """One problem's question and gold steps, or None when `fits(opening sentence)` is False."""
    later = min(rng.randint(0, config.later_facts), MAX_STEPS - k) if config.later_facts else 0
    story = _pick(rng, _STORIES)(rng, k + later, config, fits)
    if story is None:
        return None
    sentences, question, gold, about = story
    if later:  # the story goes on past its k-th step; any total or difference goes with it
        gold = gold[:k]
        question = gold[-1][0]
    count = int(config.distractors) + (rng.random() < config.distractors % 1)
    for _ in range(count):
        at = 1 + int(rng.random() * len(sentences))
        sentences.insert(at, _distractor(rng, about, config.max_number))
    sentences.append(question)
    return " ".join(sentences), gold


# ---------------------------------------------------------------------------------------------
# The stream, the loader and GSM8K's socratic text.


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise UserError(f"dataset `synthetic` has no split `{split}`; splits: {', '.join(SPLITS)}")


def generate(split: str, config: SyntheticConfig) -> Iterator[Problem]:
    """The endless, deterministic stream of `split`'s problems under `config`."""
    _check_split(split)
    rng = random.Random(f"synthetic:{config.seed}:{split}")
    lo_bucket, hi_bucket = _BUCKETS[split]

    def fits(text: str) -> bool:
        return lo_bucket <= _bucket(text) < hi_bucket

    lo, hi = config.step_range(split)
    seen: set[str] = set()
    tries = 0
    while True:
        tries += 1
        if tries > 1000 * (len(seen) + 10):
            raise UserError(f"synthetic: cannot find new {split} problems; raise `max_number`")
        k = lo + int(rng.random() * (hi - lo + 1))
        candidate = _candidate(rng, k, config, fits)
        # The bucket of the whole text is what guarantees disjoint splits; `fits` only saves time.
        if candidate is None or not fits(candidate[0]) or candidate[0] in seen:
            continue
        question, gold = candidate
        yield _problem(f"synthetic-{split}-{len(seen)}", question, gold, k, config)
        seen.add(question)


SENTENCE_END = re.compile(r"(?<=[.?!])\s+")


def sentences(text: str) -> list[str]:
    """A story's sentences, as `quote_facts` quotes them."""
    return [part for part in SENTENCE_END.split(" ".join(text.split())) if part]


def quoted_fact(subquestion: str) -> str | None:
    """The story sentence that a `quote_facts` subquestion starts with; None when it only asks."""
    parts = sentences(subquestion)
    return parts[0] if len(parts) > 1 else None


def _problem(pid: str, question: str, gold: list[tuple], k: int, config: SyntheticConfig) -> Problem:
    quoting = config.quote_facts
    steps = [Step(subquestion=f"{fact} {q}" if quoting and fact else q, solution=s, answer=str(v))
             for q, s, v, fact in gold]
    return Problem(
        id=pid,
        question=question,
        answer=str(gold[-1][2]),
        answer_type="number",
        gold_steps=steps,
        gold_cot="\n".join(step.solution for step in steps),
        meta={"num_steps": k, "seed": config.seed},
    )


@register_dataset(
    "synthetic",
    splits=SPLITS,
    default_split="train",
    description="Seeded GSM8K-style multi-step arithmetic with exact Socratic traces; no download"
    " (test-hard: longer chains).",
)
def load_synthetic(
    split: str, *, data_dir: Any = None, limit: int | None = None, options: dict | None = None
) -> list[Problem]:
    """The first `limit` (default: the split's size) problems of `split`; `data_dir` is unused."""
    _check_split(split)
    config = parse_options(options)
    size = config.size(split)
    count = size if limit is None else min(limit, size)
    return list(itertools.islice(generate(split, config), count))


def socratic_text(problem: Problem) -> str:
    """GSM8K's socratic answer: one `subquestion ** solution` line per step, then `#### n`."""
    if not problem.gold_steps:
        raise ValueError(f"problem {problem.id} has no gold steps")
    lines = [f"{step.subquestion} ** {step.solution}" for step in problem.gold_steps]
    return "\n".join([*lines, f"#### {problem.answer}"])

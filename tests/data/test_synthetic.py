"""The synthetic benchmark: determinism, disjoint splits, exact gold traces, option checks."""

from __future__ import annotations

import ast
import operator
import re
from fractions import Fraction

import pytest

from socratic_distill.data.registry import DATASETS
from socratic_distill.data.synthetic import SPLITS, load_synthetic, socratic_text
from socratic_distill.errors import UserError

ANNOTATION = re.compile(r"<<([^=<>]+)=([^<>]+)>>")
NUMBER = re.compile(r"\d+")
OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
SIZES = {"validation_size": 1000, "test_size": 1000, "test_hard_size": 1000}


def calc(expr: str) -> Fraction:
    """Exact value of `+ - * /` over integers; anything else is an error (never eval)."""

    def value(node: ast.AST) -> Fraction:
        if isinstance(node, ast.BinOp) and type(node.op) in OPS:
            return OPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return Fraction(node.value)
        raise ValueError(f"unexpected {ast.dump(node)} in {expr!r}")

    return value(ast.parse(expr, mode="eval").body)


def load(split: str, limit: int | None = None, **options):
    return load_synthetic(split, data_dir=None, limit=limit, options=options)


@pytest.fixture(scope="module")
def problems() -> dict[str, list]:
    return {split: load(split, 3000 if split == "train" else 1000, **SIZES) for split in SPLITS}


def test_calc_is_exact_and_safe():
    assert calc("48/2") == 24
    assert calc("40-40*25/100") == 30
    assert calc("60*2/3") == 40
    with pytest.raises(ValueError):
        calc("__import__('os').getcwd()")


def test_registered_with_its_splits():
    spec = DATASETS["synthetic"]
    assert spec.splits == SPLITS
    assert spec.default_split == "train"
    assert spec.loader is load_synthetic


def test_same_seed_same_problems():
    assert load("train", 300) == load("train", 300)
    assert load("test-hard", 50, seed="7") == load("test-hard", 50, seed=7)


def test_different_seeds_differ():
    first = [p.question for p in load("train", 500)]
    other = [p.question for p in load("train", 500, seed=1)]
    assert len(set(first) & set(other)) < 5


def test_splits_are_disjoint(problems):
    questions = {split: [p.question for p in got] for split, got in problems.items()}
    for split, texts in questions.items():
        assert len(set(texts)) == len(texts), split
    for a in SPLITS:
        for b in SPLITS:
            if a < b:
                assert not set(questions[a]) & set(questions[b]), (a, b)
    ids = [p.id for got in problems.values() for p in got]
    assert len(set(ids)) == len(ids)
    assert problems["test-hard"][3].id == "synthetic-test-hard-3"


def check_trace(problem) -> None:
    """Every annotation recomputes; steps chain to the answer; operands come from the text."""
    known = {int(n) for n in NUMBER.findall(problem.question)} | {2, 3, 4, 5, 100}
    for step in problem.gold_steps:
        annotations = ANNOTATION.findall(step.solution)
        assert annotations, step.solution
        for expr, value in annotations:
            assert calc(expr) == Fraction(int(value)), step.solution
            # Operands: numbers of the question, earlier results, or number words (twice, %).
            assert {int(n) for n in NUMBER.findall(expr)} <= known, (problem.question, expr)
        assert step.answer == annotations[-1][1]
        assert step.subquestion.endswith("?")
        known.add(int(step.answer))
    assert problem.gold_steps[-1].answer == problem.answer
    assert problem.answer_type == "number"
    assert problem.answer.isdigit()
    assert len(problem.gold_steps) == problem.meta["num_steps"]
    assert problem.gold_cot == "\n".join(step.solution for step in problem.gold_steps)
    assert "####" not in problem.gold_cot


def test_gold_traces_recompute(problems):
    for got in problems.values():
        for problem in got:
            check_trace(problem)


def test_step_counts_follow_the_ranges(problems):
    counts = {split: {p.meta["num_steps"] for p in got} for split, got in problems.items()}
    for split in ("train", "validation", "test"):
        assert counts[split] == {2, 3, 4}
    assert counts["test-hard"] == {5, 6, 7, 8}
    assert min(counts["test-hard"]) > max(counts["train"])
    assert all(p.meta["seed"] == 0 for p in problems["train"])


def test_custom_ranges_from_strings():
    options = {"min_steps": "1", "max_steps": "1", "hard_min_steps": "2", "hard_max_steps": "3"}
    assert {p.meta["num_steps"] for p in load("train", 200, **options)} == {1}
    hard = load("test-hard", 200, **options)
    assert {p.meta["num_steps"] for p in hard} == {2, 3}
    for problem in hard:
        check_trace(problem)


def test_max_number_bounds_the_given_numbers():
    for problem in load("train", 300, max_number="20", distractors="0"):
        check_trace(problem)
        given = NUMBER.findall(re.sub(r"\d+%", "", problem.question))  # 25% is not a given
        assert max(int(n) for n in given) <= 20, problem.question


def test_without_distractors_every_number_is_used():
    for problem in load("validation", 300, distractors=0):
        used = {int(n) for step in problem.gold_steps for n in NUMBER.findall(step.solution)}
        assert {int(n) for n in NUMBER.findall(problem.question)} <= used, problem.question


def test_distractors_add_unused_numbers():
    got = load("validation", 200, distractors=2)
    unused = 0
    for problem in got:
        used = {int(n) for step in problem.gold_steps for n in NUMBER.findall(step.solution)}
        unused += bool({int(n) for n in NUMBER.findall(problem.question)} - used)
    assert unused > len(got) // 2


def test_later_facts_tell_more_of_the_story_than_is_asked():
    options = {"min_steps": 1, "max_steps": 3, "distractors": 0}
    plain = load("train", 300, **options)
    longer = load("train", 300, later_facts=3, **options)
    for problem in longer:
        check_trace(problem)
        assert 1 <= problem.meta["num_steps"] <= 3
    # The story goes on past what its question asks (numbers no step uses), which is then the
    # last step's own subquestion.
    unused = 0
    for problem in longer:
        used = {int(n) for step in problem.gold_steps for n in NUMBER.findall(step.solution)}
        if {int(n) for n in NUMBER.findall(problem.question)} - used:
            unused += 1
            assert problem.question.endswith(" " + problem.gold_steps[-1].subquestion)
    assert len(longer) // 2 < unused < len(longer)  # 0 more facts for about a quarter
    sentences = [sum(p.question.count(". ") for p in got) for got in (plain, longer)]
    assert sentences[1] > 1.3 * sentences[0]
    assert load("train", 300, later_facts=0, **options) == plain  # the default stream stays


def test_shuffled_facts_tell_the_same_stories_in_another_order():
    options = {"min_steps": 2, "max_steps": 3, "distractors": 0}

    def given_at(problem) -> int:
        """Where the number that the first step starts from is first told (which sentence)."""
        given = NUMBER.findall(ANNOTATION.findall(problem.gold_steps[0].solution)[0][0])[0]
        sentences = problem.question.split(". ")
        return next(i for i, text in enumerate(sentences) if given in NUMBER.findall(text))

    plain = load("train", 300, **options)
    shuffled = load("train", 300, shuffle_facts=1.0, **options)
    for problem in shuffled:
        check_trace(problem)
    # The given fact opens a story (after an "are comparing" sentence, at most); a third of
    # the stories are about people and a third about periods; theirs now often comes later.
    assert max(map(given_at, plain)) <= 1
    assert sum(given_at(problem) >= 2 for problem in shuffled) > 0.1 * len(shuffled)
    assert load("train", 300, shuffle_facts=0, **options) == plain  # the default stream stays


def test_quoted_facts_lead_each_subquestion_in_story_order():
    options = {"min_steps": 1, "max_steps": 3, "distractors": 1, "later_facts": 1}
    plain = load("train", 300, **options)
    quoted = load("train", 300, quote_facts=True, **options)
    assert [p.question for p in quoted] == [p.question for p in plain]  # only the steps change
    for before, after in zip(plain, quoted, strict=True):
        check_trace(after)
        sentences = after.question.split(". ")
        told = []
        for was, step in zip(before.gold_steps, after.gold_steps, strict=True):
            assert step.solution == was.solution and step.answer == was.answer
            if step.subquestion == was.subquestion:  # a total or difference: the question's own
                assert step is after.gold_steps[-1] and step.subquestion in after.question
                continue
            fact = step.subquestion.removesuffix(" " + was.subquestion)
            assert fact != step.subquestion and fact.endswith(".")
            told.append(next(i for i, text in enumerate(sentences) if fact.startswith(text)))
        assert told == sorted(told) and len(set(told)) == len(told)  # read on, never back
    assert load("train", 300, quote_facts=False, **options) == plain  # the default stream stays


def test_limit_is_a_prefix_and_sizes_cap_it():
    assert load("test", 40) == load("test", 120)[:40]
    assert load("train", 0) == []
    assert len(load("train", 50, train_size="7")) == 7
    assert len(load("test-hard", None, **{"test-hard-size": "12"})) == 12


def test_unknown_split_is_a_user_error():
    with pytest.raises(UserError, match="test-hard"):
        load("hard", 1)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_steps": "9"}, "max_steps"),
        ({"min_steps": "x"}, "min_steps"),
        ({"min_steps": "5"}, "min_steps"),
        ({"hard_min_steps": "4"}, "hard_min_steps"),
        ({"hard_min_steps": "8", "hard_max_steps": "6"}, "hard_max_steps"),
        ({"max_number": "3"}, "max_number"),
        ({"distractors": "-1"}, "distractors"),
        ({"shuffle_facts": "1.5"}, "shuffle_facts"),
        ({"quote_facts": "perhaps"}, "quote_facts"),
        ({"train_size": "-1"}, "train_size"),
        ({"bogus": "1"}, "bogus"),
        ({"max_stesp": "3"}, "did you mean `max_steps`"),
    ],
)
def test_bad_options_name_the_field(options, field):
    with pytest.raises(UserError, match=re.escape(field)):
        load("train", 1, **options)


def test_socratic_text_is_gsm8k_style(problems):
    problem = problems["train"][0]
    lines = socratic_text(problem).split("\n")
    assert lines[-1] == f"#### {problem.answer}"
    assert len(lines) == len(problem.gold_steps) + 1
    for line, step in zip(lines, problem.gold_steps, strict=False):
        assert line == f"{step.subquestion} ** {step.solution}"
        assert re.fullmatch(r"[^*]+\? \*\* .*<<[-+*/\d]+=\d+>>.*", line), line


def test_questions_look_natural(problems):
    sample = problems["train"][:500]
    for problem in sample:
        text = problem.question
        assert "{" not in text and "}" not in text, text
        assert text.endswith("?") and text[0].isupper(), text
        assert "  " not in text and " ." not in text and ".." not in text, text
        for step in problem.gold_steps:
            assert "{" not in step.subquestion + step.solution
    assert len({" ".join(p.question.split()[:4]) for p in sample}) >= 20
    # Variety of templates, not only of names and numbers: mask those and count again.
    masked = [re.sub(r"\b[A-Z][a-z]+\b", "X", NUMBER.sub("N", p.question)) for p in sample]
    assert len({" ".join(text.split()[:4]) for text in masked}) >= 20
    sentences = {sentence for text in masked for sentence in re.split(r"(?<=[.?]) ", text)}
    assert len(sentences) >= 300

"""Prompt files: the bundled few-shot examples, rendering, and errors in a user's file."""

from __future__ import annotations

import pytest

from socratic_distill.errors import UserError
from socratic_distill.schemas import Problem, Step
from socratic_distill.teacher.parse import parse_completion
from socratic_distill.teacher.prompts import (
    PROMPT_DIR,
    PromptSet,
    bundled_path,
    gold_hint,
    load_template,
)
from socratic_distill.teacher.verify import arithmetic_error

MATH = Problem(id="m", question="What is 2 + 3?", answer="5", gold_cot="2 + 3 = <<2+3=5>>5")
STRATEGY = Problem(id="s", question="Is the sky green?", answer="no", answer_type="yesno",
                   context="The sky is blue.  Grass is green.",
                   gold_steps=[Step(subquestion="What colour is the sky?", solution="")])


@pytest.mark.parametrize("style", ["socratic", "cot"])
@pytest.mark.parametrize("family", ["math", "strategy"])
def test_bundled_examples_parse_and_check_out(style, family):
    template = load_template(bundled_path(style, family))
    answer_type = "yesno" if family == "strategy" else "number"
    examples = [content for role, content in template.messages if role == "assistant"]
    assert len(examples) >= 3
    for example in examples:
        parsed = parse_completion(example, style, answer_type)
        assert parsed.error is None, (example, parsed)
        assert parsed.final_answer is not None
        if style == "socratic":
            assert len(parsed.steps) >= 2
            texts = [step.solution for step in parsed.steps]
        else:
            texts = [parsed.cot]
        assert all(arithmetic_error(text) is None for text in texts)


def test_family_is_chosen_by_answer_type_and_facts_fill_in():
    prompts = PromptSet("socratic")
    math, strategy = prompts.render(MATH), prompts.render(STRATEGY)
    assert "maths teacher" in math.messages[0][1]
    assert "yes/no" in strategy.messages[0][1]
    user = strategy.messages[-1][1]
    assert user.splitlines() == ["Facts: The sky is blue. Grass is green.",
                                 "Problem: Is the sky green?"]
    assert math.messages[-1][1] == "Problem: What is 2 + 3?"  # no facts, no gold: lines left out
    assert math.stop == ("\nProblem:", "\nFacts:")


def test_show_gold_adds_the_reference():
    user = PromptSet("cot", show_gold=True).render(MATH).messages[-1][1]
    assert user.endswith("Reference solution: 2 + 3 = <<2+3=5>>5")
    assert gold_hint(STRATEGY) == "Decomposition: (1) What colour is the sky?"
    equation = Problem(id="e", question="?", answer="5", meta={"equation": "( 2 + 3 )"})
    assert gold_hint(equation) == "Equation: ( 2 + 3 )"


def test_completions_text_puts_each_answer_under_its_problem():
    text = PromptSet("socratic").render(MATH).text()
    assert text.startswith("You are a careful maths teacher.")
    assert "\n\nProblem: A baker makes" in text
    assert "muffins are left?\nQ: How many muffins" in text
    assert text.endswith("Final answer: 9\n\nProblem: What is 2 + 3?\n")


def test_user_prompt_file(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("my prompt\n=== user ===\nSolve: {{question}}\nHint: {{gold}}\n")
    prompt = PromptSet("socratic", path).render(STRATEGY)
    assert prompt.messages == (("user", "Solve: Is the sky green?"),)
    assert prompt.stop == ()


@pytest.mark.parametrize(("text", "message"), [
    ("=== user ===\n{{question}} {{answer}}\n", "mine.txt:3: unknown placeholder {{answer}}"),
    ("=== user ===\nno placeholder\n", "must contain {{question}}"),
    ("just text\n", "no `=== user ===` section"),
    ("=== user ===\nx\n=== assistant ===\ny\n", "must alternate and end with the user"),
    ("=== user ===\n{{question}}\n=== system ===\nx\n=== user ===\n{{question}}\n",
     "may only come first"),
])
def test_bad_prompt_files(tmp_path, text, message):
    path = tmp_path / "mine.txt"
    path.write_text("comment\n" + text)
    with pytest.raises(UserError, match="mine.txt") as caught:
        load_template(path)
    assert message in str(caught.value)


def test_missing_prompt_file(tmp_path):
    with pytest.raises(UserError, match="prompt file not found"):
        PromptSet("cot", tmp_path / "nope.txt")


def test_every_bundled_file_is_listed():
    names = sorted(path.name for path in PROMPT_DIR.glob("*.txt"))
    assert names == ["cot_math.txt", "cot_strategy.txt", "socratic_math.txt",
                     "socratic_strategy.txt"]

"""The completion parser on a table of real-looking teacher outputs in many layouts."""

from __future__ import annotations

import pytest

from socratic_distill.teacher.parse import parse_completion

QUESTION = "Natalia sold clips to 48 of her friends in April, and then she sold half as many " \
           "clips in May. How many clips did Natalia sell altogether in April and May?"

# (name, completion, style, answer type, steps, final answer, error prefix)
CASES = [
    ("our format", "Q: How many clips did Natalia sell in May?\n"
     "A: Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
     "Q: How many clips did she sell altogether?\nA: 48+24 = <<48+24=72>>72 clips.\n"
     "Final answer: 72", "socratic", "number", 2, "72", None),
    ("gsm8k ** separators", "How many clips did Natalia sell in May? ** Natalia sold 48/2 = "
     "<<48/2=24>>24 clips in May.\nHow many clips did Natalia sell altogether in April and May?"
     " ** Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
     "socratic", "number", 2, "72", None),
    ("markdown sub-questions, chatter around",
     "Sure! Let's break this problem down.\n\n**Sub-question 1:** How many clips did Natalia "
     "sell in May?\n**Answer 1:** She sold half as many as in April: 48 / 2 = 24 clips.\n\n"
     "**Sub-question 2:** How many clips did she sell in total?\n**Answer 2:** 48 + 24 = 72 "
     "clips.\n\n**Final Answer:** 72\n\nI hope this helps! Let me know if you have questions.",
     "socratic", "number", 2, "72", None),
    ("numbered Q/A with echo of the problem",
     f"Question: {QUESTION}\n\n1. Q: How many clips in May?\n   A: 48 / 2 = 24\n"
     "2. Q: How many in total?\n   A: 48 + 24 = 72\n\nThe answer is 72.",
     "socratic", "number", 2, "72", None),
    ("Q1/A1 labels, multi-line answers, no final line",
     "Q1: How many clips did she sell in May?\nA1: In May she sold half of 48.\n"
     "48 / 2 = 24 clips.\nQ2: How many altogether?\nA2: April plus May:\n48 + 24 = 72 clips.",
     "socratic", "number", 2, "72", None),
    ("headings with Step N and boxed answer",
     "### Step 1: How many clips were sold in May?\nShe sold 48 / 2 = 24 clips.\n\n"
     "### Step 2: What is the total?\n48 + 24 = 72\n\nTherefore, the final answer is "
     "$\\boxed{72}$.", "socratic", "number", 2, "72", None),
    ("numbered questions without labels, inline answers",
     "Here is the decomposition:\n1) How many clips in May? 48 / 2 = 24\n"
     "2) How many clips in total? 48 + 24 = 72\nSo the answer is 72.",
     "socratic", "number", 2, "72", None),
    ("question and answer on one line", "Q1: How many in May? A1: 24 clips\n"
     "Q2: How many altogether? A2: 48 + 24 = 72 clips\nFinal answer: 72",
     "socratic", "number", 2, "72", None),
    ("students' #### layout and [END]", "Q: How many in May?\nA: 48/2 = <<48/2=24>>24 #### 24\n"
     "Q: How many in total?\nA: 48+24 = <<48+24=72>>72 #### 72\nQ: [END]",
     "socratic", "number", 2, "72", None),
    ("yes/no with facts", "Q: What colour does a polar bear's fur look?\nA: White.\n"
     "Q: What colour is its skin?\nA: Black.\nQ: Are they the same?\nA: No.\nFinal answer: No",
     "socratic", "yesno", 3, "no", None),
    ("yes/no final from the last step", "Sub-question 1: How long is a week?\nAnswer 1: 7 days."
     "\nSub-question 2: Is 7 days shorter than February?\nAnswer 2: Yes, 7 is less than 28.",
     "socratic", "yesno", 2, "yes", None),
    ("refusal", "I'm sorry, but I can't help with that request.", "socratic", "number",
     0, None, "unparsable"),
    ("empty", "   \n", "socratic", "number", 0, None, "empty completion"),
    ("steps without any answer", "Q: What is the colour of the sky?\nA: It depends on the "
     "weather.", "socratic", "number", 1, None, "no final answer"),
    ("cot with chatter and final line",
     "Let's think step by step.\nIn May she sold 48 / 2 = <<48/2=24>>24 clips.\n"
     "Altogether she sold 48 + 24 = <<48+24=72>>72 clips.\nFinal answer: 72\n\nHope this helps!",
     "cot", "number", 0, "72", None),
    ("cot with the answer in the last sentence",
     "**Solution:**\nIn May: 48 / 2 = 24.\nSo she sold 48 + 24 = 72 clips. The answer is 72.",
     "cot", "number", 0, "72", None),
    ("cot without a final line", "In May she sold 48 / 2 = 24 clips.\nIn total 48 + 24 = 72.",
     "cot", "number", 0, "72", None),
    ("cot final line only", "#### 72", "cot", "number", 0, "72", "unparsable"),
]


@pytest.mark.parametrize(
    ("name", "completion", "style", "answer_type", "steps", "final", "error"), CASES,
    ids=[case[0] for case in CASES],
)
def test_parse_table(name, completion, style, answer_type, steps, final, error):
    parsed = parse_completion(completion, style, answer_type, QUESTION)
    assert len(parsed.steps) == steps, parsed
    assert parsed.final_answer == final, parsed
    if error is None:
        assert parsed.error is None, parsed
    else:
        assert parsed.error is not None and parsed.error.startswith(error), parsed
    if style == "socratic" and steps:
        assert all(step.subquestion and "**" not in step.subquestion for step in parsed.steps)
        assert all(not step.subquestion.lower().startswith(("q", "sub")) or "?" in step.subquestion
                   for step in parsed.steps)


def test_steps_keep_their_text_and_answers():
    parsed = parse_completion(CASES[0][1], "socratic", "number", QUESTION)
    assert parsed.steps[0].subquestion == "How many clips did Natalia sell in May?"
    assert parsed.steps[0].solution == "Natalia sold 48/2 = <<48/2=24>>24 clips in May."
    assert [step.answer for step in parsed.steps] == ["24", "72"]


def test_cot_keeps_reasoning_without_chatter_or_final_line():
    parsed = parse_completion(CASES[14][1], "cot", "number")
    assert parsed.cot.splitlines() == [
        "In May she sold 48 / 2 = <<48/2=24>>24 clips.",
        "Altogether she sold 48 + 24 = <<48+24=72>>72 clips.",
    ]
    last = parse_completion(CASES[15][1], "cot", "number")
    assert last.cot.endswith("So she sold 48 + 24 = 72 clips.")


def test_students_answer_mark_moves_to_the_step_answer():
    parsed = parse_completion(CASES[8][1], "socratic", "number")
    assert parsed.steps[1].solution == "48+24 = <<48+24=72>>72"
    assert parsed.steps[1].answer == "72"


def test_a_one_step_decomposition_that_restates_the_question_is_kept():
    parsed = parse_completion(f"Q: {QUESTION}\nA: 48 + 24 = 72\nFinal answer: 72", "socratic",
                              "number", QUESTION)
    assert len(parsed.steps) == 1 and parsed.final_answer == "72"

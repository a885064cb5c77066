"""The layouts: training texts and inference prompts must agree token for token."""

import pytest

from socratic_distill import formats
from socratic_distill.schemas import Problem, Step

NATALIA = Problem(
    id="p1",
    question="Natalia sold clips to 48 of her friends in April, and then she sold half as many "
    "clips in May. How many clips did Natalia sell altogether in April and May?",
    answer="72",
    gold_steps=[
        Step(subquestion="How many clips did Natalia sell in May?",
             solution="Natalia sold 48/2 = <<48/2=24>>24 clips in May."),
        Step(subquestion="How many clips did Natalia sell altogether in April and May?",
             solution="Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May."),
    ],
    gold_cot="Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.",
)


def spans_text(example):
    return [example.text[start:end] for start, end in example.loss_spans]


def only(problem, task, **kwargs):
    (example,) = formats.build_examples(problem, task, **kwargs)
    assert example.format_version == formats.FORMAT_VERSION
    return example


def test_socratic_tasks_share_one_text_and_differ_in_spans():
    unified, qg, qa = (only(NATALIA, task) for task in ("unified", "qg", "qa"))
    assert unified.text == qg.text == qa.text
    assert spans_text(qg) == [
        " How many clips did Natalia sell in May?\n",
        " How many clips did Natalia sell altogether in April and May?\n",
        " [END]\n",
    ]
    # the calculator writes `48/2=24>>24` at inference, so those characters carry no loss
    assert spans_text(qa) == [
        " Natalia sold 48/2 = <<", " clips in May. #### 24\n",
        " Natalia sold 48+24 = <<", " clips altogether in April and May. #### 72\n",
    ]
    whole = "".join(spans_text(unified))
    assert unified.loss_spans[0][0] == len(formats.header(NATALIA.question))
    assert whole.startswith("Q: How many") and whole.endswith("Q: [END]\n")
    assert "24>>" not in whole and "= << clips" in whole  # the calculator's part is out


def test_answer_and_cot_train_on_the_completion_only():
    answer = only(NATALIA, "answer")
    assert spans_text(answer) == ["#### 72\n"]
    assert answer.text.startswith("Question: Natalia")
    cot = only(NATALIA, "cot")
    assert spans_text(cot)[0].startswith("Natalia sold 48/2")
    assert cot.text.endswith("#### 72\n")
    # The answer the calculator would write after `####` stays trained (see calculator_spans).
    assert spans_text(cot)[-1] == " clips altogether in April and May.\n#### 72\n"


def test_inference_prompts_are_prefixes_of_the_training_text():
    text = only(NATALIA, "unified").text
    steps = [s.model_copy(update={"answer": formats.step_answer(s)}) for s in NATALIA.gold_steps]
    for k in range(len(steps) + 1):
        qg_prompt = formats.qg_prompt(NATALIA.question, steps[:k])
        assert text.startswith(qg_prompt)
        assert text[len(qg_prompt):].startswith(" ")  # the completion carries the space
        if k < len(steps):
            qa_prompt = formats.qa_prompt(NATALIA.question, steps[:k], steps[k].subquestion)
            assert text.startswith(qa_prompt)


def test_parsing_inverts_rendering():
    text = only(NATALIA, "unified").text
    steps = formats.parse_unified(text[len(formats.header(NATALIA.question)):])
    assert [s.subquestion for s in steps] == [s.subquestion for s in NATALIA.gold_steps]
    assert [s.answer for s in steps] == ["24", "72"]
    assert formats.parse_subquestion(" [END]\n") is None
    assert formats.parse_subquestion(" How many?\nQ: more") == "How many?"
    step = formats.parse_solution(" She has 3+4 = <<3+4=7>>7 pens. #### 7\nQ:")
    assert (step.solution, step.answer) == ("She has 3+4 = <<3+4=7>>7 pens.", "7")


def test_last_step_carries_the_gold_answer():
    off = NATALIA.model_copy(update={"gold_steps": [
        NATALIA.gold_steps[0],
        Step(subquestion="How many in all?", solution="That is 72 clips sold."),
    ]})
    assert spans_text(only(off, "qa"))[-1].endswith("#### 72\n")


def test_qg_ablation_drops_solutions():
    qg = only(NATALIA, "qg", qg_include_solutions=False)
    assert "A:" not in qg.text and qg.text.count("Q:") == 3
    assert formats.qg_prompt(NATALIA.question, NATALIA.gold_steps[:1], include_solutions=False) \
        in qg.text


def test_problems_without_what_a_task_needs_give_no_examples():
    bare = Problem(id="b", question="What is 2+2?", answer="4")
    assert formats.build_examples(bare, "cot") == []
    assert formats.build_examples(bare, "unified") == []
    no_solutions = NATALIA.model_copy(update={"gold_steps": [
        Step(subquestion="How many kids?", solution="")]})
    assert formats.build_examples(no_solutions, "qa") == []
    assert len(formats.build_examples(no_solutions, "qg")) == 1


def test_context_goes_before_the_question():
    problem = Problem(id="s", question="Is it wet?", answer=True, context="Rain is water.")
    assert only(problem, "answer").text == "Facts: Rain is water.\nQuestion: Is it wet?\n#### yes\n"


def test_calculator_results_carry_no_loss():
    # What the calculator writes at inference: the whole annotation after `2+3 = `, the value
    # and its copy after `<<5*2=`.
    text = "A: 2+3 = <<2+3=5>>5 and <<5*2=10>>10.\n"
    spans = formats.without_calculator_results(text, [(2, len(text))])
    assert [text[a:b] for a, b in spans] == [" 2+3 = <<", " and <<5*2=", ".\n"]
    assert formats.without_calculator_results("no annotation", [(0, 5)]) == [(0, 5)]


def test_text_the_calculator_would_not_write_keeps_its_loss():
    # A wrong value, or an annotation that does not repeat the expression before it.
    text = "A: 2+3 = <<2+3=6>>6 and 4*2 = <<2*4=8>>8.\n"
    spans = formats.without_calculator_results(text, [(2, len(text))])
    assert [text[a:b] for a, b in spans] == [" 2+3 = <<2+3=6>>6 and 4*2 = <<2*4=", ".\n"]


def test_the_answer_after_the_mark_keeps_its_loss():
    # The calculator writes ` 10` at inference too, but that copy is training signal.
    text = "A: 2+3 = <<2+3=5>>5 and <<5*2=10>>10 #### 10\n"
    spans = formats.without_calculator_results(text, [(2, len(text))])
    assert [text[a:b] for a, b in spans] == [" 2+3 = <<", " and <<5*2=", " #### 10\n"]


def test_a_solution_splits_into_the_steps_a_stepwise_verifier_judges():
    dialogue = formats.socratic_layout(NATALIA.question, NATALIA.gold_steps).text.split("\n", 1)[1]
    first, second = formats.solution_steps(dialogue)
    assert first.startswith("Q: How many clips did Natalia sell in May?\nA: ") and "#### 24" in first
    assert second.endswith("#### 72\nQ: [END]")  # the end marker belongs to the last step
    cot = NATALIA.gold_cot + "\n#### 72"
    assert formats.solution_steps(cot) == [NATALIA.gold_cot.split("\n")[0],
                                           NATALIA.gold_cot.split("\n")[1] + "\n#### 72"]
    assert formats.solution_steps("#### 72") == ["#### 72"]


def test_stepwise_verdicts_follow_every_step_and_end_at_the_first_wrong_one():
    dialogue = formats.socratic_layout(NATALIA.question, NATALIA.gold_steps).text.split("\n", 1)[1]
    prompt = formats.verifier_prompt(NATALIA.question, dialogue)
    text, ends = formats.stepwise_verifier_text(prompt)
    assert [text[end - len("Verdict:"):end] for end in ends] == ["Verdict:", "Verdict:"]
    assert text.endswith("Q: [END]\nVerdict:") and text.count("Verdict: yes\n") == 1
    assert text.replace("Verdict: yes\n", "") == prompt  # only the verdict lines are added

    right = formats.stepwise_verifier_example(NATALIA, dialogue, [True, True])
    assert right.verdicts == "steps" and right.text == text + " yes\n"
    assert spans_text(right) == [" yes\n", " yes\n"]
    wrong = formats.stepwise_verifier_example(NATALIA, dialogue, [False, None])
    assert wrong.text.endswith("clips in May. #### 24\nVerdict: no\n")  # nothing after it
    assert spans_text(wrong) == [" no\n"]
    unknown = formats.stepwise_verifier_example(NATALIA, dialogue, [None, False])
    assert spans_text(unknown) == [" no\n"] and unknown.text.count("Verdict:") == 2


def test_stepwise_labels_must_match_the_steps():
    dialogue = formats.socratic_layout(NATALIA.question, NATALIA.gold_steps).text.split("\n", 1)[1]
    with pytest.raises(ValueError, match="1 labels for 2 steps"):
        formats.stepwise_verifier_example(NATALIA, dialogue, [True])

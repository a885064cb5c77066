"""Where wrong solutions first went wrong: hand-made predictions with known mistakes."""

from __future__ import annotations

import pytest

from socratic_distill.eval.diagnosis import (
    FIRST_ERRORS,
    first_error,
    locate_first_error,
    same_question,
)
from socratic_distill.eval.evaluate import evaluate_predictions
from socratic_distill.schemas import Prediction, Problem, Step

Q1 = "How many postcards does Sam have after he gets 60 more?"
Q2 = "How many postcards does Sam have after buying three times as many?"
PROBLEM = Problem(
    id="p", question="Sam has 57 postcards. He gets 60 more, then triples them. How many?",
    answer="351",
    gold_steps=[Step(subquestion=Q1, solution="57+60 = <<57+60=117>>117", answer="117"),
                Step(subquestion=Q2, solution="117*3 = <<117*3=351>>351", answer="351")],
)
RIGHT_1 = Step(subquestion=Q1, solution="57+60 = <<57+60=117>>117", answer="117")


def predict(*steps: Step) -> Prediction:
    return Prediction(id="p", steps=list(steps), answer=steps[-1].answer if steps else None)


CASES = {
    "ended early": (predict(RIGHT_1), "steps"),
    "ran on": (predict(RIGHT_1, Step(subquestion=Q2, solution="<<117*3=351>>351", answer="351"),
                       Step(subquestion="How many more?", solution="<<351+1=352>>352",
                            answer="352")), "steps"),
    "another number asked": (predict(Step(subquestion=Q1.replace("60", "50"),
                                          solution="57+50 = <<57+50=107>>107", answer="107")),
                             "subquestion"),
    "another person asked": (predict(Step(subquestion=Q1.replace("Sam", "Leo"),
                                          solution="57+50 = <<57+50=107>>107", answer="107")),
                             "subquestion"),
    "garbled question": (predict(Step(subquestion="How many as many as many 60 before?",
                                      solution="<<57*60=3420>>3420", answer="3420")),
                         "subquestion"),
    "wrong expression": (predict(RIGHT_1, Step(subquestion=Q2, solution="117*2 = <<117*2=234>>234",
                                               answer="234")), "expression"),
    "miscopied after the calculator": (predict(RIGHT_1, Step(
        subquestion=Q2, solution="117*3 = <<117*3=351>>35", answer="35")), "miscopied"),
    "wrong arithmetic without the calculator": (predict(Step(
        subquestion=Q1, solution="57+60 = <<57+60=107>>107", answer="107")), "miscopied"),
    "nothing computed": (predict(RIGHT_1, Step(subquestion=Q2, solution="")), "unparsable"),
    "cot, second sentence": (Prediction(id="p", prediction="Sam has 57+60 = <<57+60=117>>117. "
                                        "Then 117*2 = <<117*2=234>>234.\n#### 234"), "expression"),
    "cot, one sentence": (Prediction(id="p", prediction="He has 57+60 = <<57+60=117>>117.\n"
                                     "#### 117"), "steps"),
    "no steps at all": (Prediction(id="p", steps=[], prediction="Q: [END]"), "unparsable"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_first_error_of_hand_made_predictions(case):
    prediction, expected = CASES[case]
    assert expected in FIRST_ERRORS
    assert first_error(PROBLEM, prediction) == expected


# The step each case first goes wrong at (0-based): where it ended early or ran on, for `steps`.
STEPS = {"ended early": 1, "ran on": 2, "another number asked": 0, "another person asked": 0,
         "garbled question": 0,
         "wrong expression": 1, "miscopied after the calculator": 1,
         "wrong arithmetic without the calculator": 0, "nothing computed": 1,
         "cot, second sentence": 1, "cot, one sentence": 1, "no steps at all": 0}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_first_error_is_located_at_its_step(case):
    prediction, expected = CASES[case]
    assert locate_first_error(PROBLEM, prediction) == (expected, STEPS[case])


def test_nothing_to_compare_is_not_classified():
    no_gold = PROBLEM.model_copy(update={"gold_steps": None})
    assert first_error(no_gold, predict(RIGHT_1)) is None
    assert first_error(PROBLEM, Prediction(id="p", prediction="#### 12")) is None  # answer-only


def test_same_question_needs_the_same_numbers_names_and_similar_words():
    assert same_question("How many postcards does Sam have after getting 60 more?", Q1)
    assert not same_question(Q1.replace("60", "61"), Q1)
    assert not same_question("What is 60 times the number of dogs owned by Ann?", Q1)
    assert not same_question("How many rocks did Ravi collect?", "How many rocks did Diego collect?")
    week = "How many stamps did Lily collect in the fourth week?"
    assert not same_question(week.replace("fourth", "fifth"), week)
    assert not same_question(week.replace("Lily", "Mia"), week)
    assert same_question("how many stamps did Lily collect in the fourth week?", week)


def test_evaluate_records_the_first_error_of_wrong_answers_only():
    problems = [PROBLEM, PROBLEM.model_copy(update={"id": "q"})]
    right = predict(RIGHT_1, Step(subquestion=Q2, solution="<<117*3=351>>351", answer="351"))
    wrong = predict(RIGHT_1).model_copy(update={"id": "q"})
    items = evaluate_predictions(problems, [right, wrong]).items
    assert [(item.correct, item.first_error) for item in items] == [(True, None), (False, "steps")]

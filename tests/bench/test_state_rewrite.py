"""bench/state_rewrite.py: each turn shows the problem with the facts found so far written in,
the training texts follow the gold steps to an end with no fact left to find, and the solver
loop reads the same prompts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from socratic_distill.data.registry import load_problems
from socratic_distill.data.synthetic import sentences
from socratic_distill.formats import END_MARKER, header
from socratic_distill.schemas import Step

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import state_rewrite  # noqa: E402

OPTIONS = {"min_steps": 1, "max_steps": 3, "hard_min_steps": 4, "hard_max_steps": 5,
           "max_number": 20, "distractors": 0, "quote_facts": True}
CHAIN = "Jonah has 14 rocks. Diego has twice as many rocks as Jonah. How many rocks does Diego have?"


def test_a_step_rewrites_the_fact_it_quotes_and_the_question_it_answers():
    step = Step(subquestion="Diego has twice as many rocks as Jonah. How many rocks does Diego have?",
                solution="Diego has 14*2 = <<14*2=28>>28 rocks.", answer="28")
    assert state_rewrite.rewrite(CHAIN, step) == "Jonah has 14 rocks. Diego has 28 rocks."
    total = Step(subquestion="How many rocks do they have in total?",
                 solution="Together, they have 14+28 = <<14+28=42>>42 rocks.")
    state = "Jonah has 14 rocks. Diego has 28 rocks. How many rocks do they have in total?"
    assert state_rewrite.rewrite(state, total) == (
        "Jonah has 14 rocks. Diego has 28 rocks. Together, they have 42 rocks.")
    made_up = step.model_copy(update={"subquestion": "Diego has 3 rocks. How many?"})
    assert state_rewrite.rewrite(CHAIN, made_up) is None


@pytest.mark.parametrize("split", ["train", "test-hard"])
def test_training_texts_walk_the_gold_steps_to_an_end(split):
    problems = load_problems(f"synthetic:{split}", limit=40, options=OPTIONS)
    for problem in problems:
        examples = state_rewrite.state_examples(problem)
        assert len(examples) == len(problem.gold_steps) + 1, problem.question
        first, last = examples[0].text, examples[-1].text
        assert first.startswith(header(problem.question))
        assert last.endswith(f"Q: {END_MARKER}\n")
        # The end shows what the last step found, and nothing is left to compute.
        assert state_rewrite.found_sentence(problem.gold_steps[-1]) in last
        state = sentences(last.split("\n")[0])
        for step in problem.gold_steps:  # every quoted fact is written in by now
            assert sentences(step.subquestion)[0] not in state
        for example in examples[:-1]:
            trained = "".join(example.text[start:end] for start, end in example.loss_spans)
            assert trained.startswith("Q: ") and "#### " in trained


def test_the_solver_reads_the_state_and_stops_on_a_quote_it_cannot_find():
    problem = load_problems("synthetic:test", limit=40, options=OPTIONS)[0]
    dialogue = state_rewrite.StateDialogue(problem)
    assert dialogue.ask_prompt() == header(problem.question) + "Q:"
    gold = problem.gold_steps[0]
    dialogue.take_subquestion(f" {gold.subquestion}\n")
    assert dialogue.solve_prompt() == f"{header(problem.question)}Q: {gold.subquestion}\nA:"
    dialogue.take_solution(f" {gold.solution} #### {gold.answer}\n")
    assert dialogue.state == state_rewrite.rewrite(problem.question, gold) and not dialogue.done
    assert dialogue.ask_prompt() == header(dialogue.state) + "Q:"
    dialogue.take_subquestion(" Nobody said this. How many?\n")
    dialogue.take_solution(" It is 2+2 = <<2+2=4>>4. #### 4\n")
    assert dialogue.done and len(dialogue.steps) == 2

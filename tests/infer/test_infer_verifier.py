"""Verifier-ranked sampling: the choice among samples, the verifier's training set from the
students' samples, a tiny verifier trained on it, and the errors around it."""

from __future__ import annotations

import json
import time

import pytest
from infer_helpers import Scripted, make_problems

from socratic_distill.build import build_verifier_set, verifier_examples
from socratic_distill.errors import UserError
from socratic_distill.formats import FORMAT_VERSION, socratic_layout, verifier_prompt
from socratic_distill.infer.config import make_config
from socratic_distill.infer.engine import Dialogue, choose
from socratic_distill.infer.run import load_generators
from socratic_distill.infer.solvers import solve
from socratic_distill.infer.verifier import check_verifier, load_scorer
from socratic_distill.jsonl import read_jsonl, write_jsonl
from socratic_distill.schemas import Prediction, TrainingExample


def dialogues(answers):
    problem = make_problems(1)[0]
    out = []
    for replica, answer in enumerate(answers):
        dialogue = Dialogue(problem, replica)
        dialogue.answer = answer
        out.append(dialogue)
    return out


def test_choose_by_vote():
    samples = dialogues(["4", "5", "4", "6"])
    scores = [0.2, 0.9, 0.3, 0.6]
    assert choose(samples).answer == "4"  # the majority, without scores
    best = choose(samples, scores, "best")
    assert (best.answer, best.chosen, best.score) == ("5", samples[1], 0.9)
    # weighted: 4 totals 0.5, 5 totals 0.9, 6 totals 0.6
    assert choose(samples, scores, "weighted").answer == "5"
    assert choose(samples, [0.2, 0.4, 0.3, 0.6], "weighted").answer == "6"
    # With scores, the majority answer is still the majority, from its best-scored sample.
    majority = choose(samples, scores, "majority")
    assert (majority.answer, majority.chosen, majority.score) == ("4", samples[2], 0.3)
    samples[1].fail("boom")  # a failed sample never wins
    assert choose(samples, scores, "best").answer == "6"
    with pytest.raises(ValueError, match="score"):
        choose(samples, None, "best")


def test_solve_ranks_samples_with_a_scorer():
    problems = make_problems(2)
    answers = iter([" #### 4", " #### 5", " #### 4"] * 2)
    qa = Scripted(lambda p: next(answers))
    qg = Scripted(lambda p: " [END]" if "\nA:" in p else " Sub?")

    def scorer(prompts):  # a rule-based verifier: it trusts fives, and takes its time
        assert all(p.endswith("\nVerdict:") for p in prompts)
        time.sleep(0.06)
        return [0.8 if "#### 5" in p else 0.1 for p in prompts]

    config = make_config(method="socratic", samples=3, temperature=0.5, vote="best",
                         keep_samples=True)
    predictions = solve(problems, {"qg": qg, "qa": qa}, config, scorer)
    for prediction in predictions:
        assert prediction.samples == ["4", "5", "4"]
        assert prediction.answer == "5" and prediction.score == 0.8
        assert prediction.scores == [0.1, 0.8, 0.1]
        assert len(prediction.sample_texts) == 3 and "#### 5" in prediction.sample_texts[1]
        assert prediction.prediction == prediction.sample_texts[1]
        # The scoring time is shared out among the problems, and is part of their time.
        assert 0.02 < prediction.score_seconds <= prediction.seconds
    with pytest.raises(UserError, match="needs a verifier"):
        solve(problems, {"qg": qg, "qa": qa}, config)


def test_vote_needs_samples():
    with pytest.raises(UserError, match="samples >= 2"):
        make_config(method="cot", vote="best")


def _prediction(problem, texts, answers):
    return Prediction(id=problem.id, prediction=texts[0], answer=answers[0], samples=answers,
                      sample_texts=texts)


def test_verifier_examples_label_and_deduplicate():
    problem = make_problems(1)[0]
    right = socratic_layout(problem.question, problem.gold_steps).text
    prediction = _prediction(problem, [right, "A: no idea", right, None],
                             [problem.answer, None, problem.answer, None])
    labelled = verifier_examples([problem], [prediction], "samples.jsonl")
    assert [correct for _, correct in labelled] == [True, False]  # the repeat and the failure go
    example = labelled[0][0]
    assert example.task == "verifier" and example.id == problem.id
    start, end = example.loss_spans[0]
    assert example.text[start:end] == " yes\n"
    assert example.text[:start] == verifier_prompt(problem.question, right)


def test_verifier_set_errors(tmp_path):
    problem = make_problems(1)[0]
    samples = tmp_path / "samples.jsonl"
    write_jsonl(samples, [Prediction(id=problem.id, prediction="x", answer="1")])
    with pytest.raises(UserError, match=r"samples.jsonl:1: no `sample_texts`"):
        build_verifier_set(samples, tmp_path / "sets", [problem])
    write_jsonl(samples, [Prediction(id="elsewhere", sample_texts=["x"], samples=["1"])])
    with pytest.raises(UserError, match=r"samples.jsonl:1: .*unknown problem `elsewhere`"):
        build_verifier_set(samples, tmp_path / "sets", [problem])
    assert not (tmp_path / "sets" / "verifier.jsonl").exists()


def _planted_wrong(problem):
    """A wrong dialogue as weak students write them: it stops before the answer."""
    step = problem.gold_steps[0]
    return f"Q: {step.subquestion}\nA: I do not know.\n"


def _right(problem):
    return socratic_layout(problem.question, problem.gold_steps).text.split("\n", 1)[1]


def _train_verifier(root, flipped=False, **settings):
    """A scratch:tiny verifier trained on 48 problems' right and planted wrong samples; with
    `flipped` the labels are swapped (the planted sample carries the gold answer)."""
    from socratic_distill.train import TrainConfig, train_student

    problems = make_problems(48)
    answers = [None, "gold"] if flipped else ["gold", None]
    predictions = [
        _prediction(problem, [_right(problem), _planted_wrong(problem)],
                    [problem.answer if a == "gold" else None for a in answers])
        for problem in problems
    ]
    write_jsonl(root / "samples.jsonl", predictions)
    counts = build_verifier_set(root / "samples.jsonl", root / "sets", problems)
    assert (counts["right"], counts["wrong"]) == (48, 48)
    config = TrainConfig(max_steps=60, batch_size=16, learning_rate=3e-3, validation_fraction=0,
                         save_steps=1000, logging_steps=20, **settings)
    return train_student("verifier", root / "sets", "scratch:tiny", root / "verifier", config)


@pytest.fixture(scope="module")
def tiny_verifier(tmp_path_factory):
    return _train_verifier(tmp_path_factory.mktemp("verifier"))


def _held_out_scores(verifier):
    problems = make_problems(60)[48:]  # problems it never trained on
    scorer = load_scorer(verifier)
    right = [verifier_prompt(p.question, _right(p)) for p in problems]
    wrong = [verifier_prompt(p.question, _planted_wrong(p)) for p in problems]
    scores = scorer(right + wrong)
    # Scores do not depend on what else is in the batch (left padding is masked).
    assert scorer(right[:1])[0] == pytest.approx(scores[0], abs=1e-4)
    return scores[:12], scores[12:]


def test_a_tiny_verifier_ranks_a_right_sample_above_a_planted_wrong_one(tiny_verifier, tmp_path):
    right, wrong = _held_out_scores(tiny_verifier)
    assert all(0 <= s <= 1 for s in right + wrong)
    assert all(good > bad for good, bad in zip(right, wrong, strict=True)), (right, wrong)
    # The ranking comes from the labels, not from the texts' shapes: swapped labels swap it.
    right, wrong = _held_out_scores(_train_verifier(tmp_path, flipped=True))
    assert all(good < bad for good, bad in zip(right, wrong, strict=True)), (right, wrong)


def test_a_verifier_trained_on_pairs_ranks_within_a_problem(tmp_path):
    verifier = _train_verifier(tmp_path, verifier_loss="pairs")
    student = json.loads((verifier / "student.json").read_text())
    assert student["config"]["verifier_loss"] == "pairs" and student["data"]["pairs"] == 48
    right, wrong = _held_out_scores(verifier)
    assert all(good > bad for good, bad in zip(right, wrong, strict=True)), (right, wrong)


def test_pairs_need_a_verifier_set_with_mixed_problems_and_one_verdict_each(tiny_verifier, tmp_path):
    from socratic_distill.train import TrainConfig, train_student

    pairs = TrainConfig(max_steps=1, verifier_loss="pairs", validation_fraction=0)
    sets = tiny_verifier.parent / "sets"
    with pytest.raises(UserError, match="task `cot` has none"):
        train_student("cot", sets.parent / "nothing", "scratch:tiny", tmp_path / "cot", pairs)
    examples = read_jsonl(sets / "verifier.jsonl", TrainingExample)
    right_only = tmp_path / "right"
    write_jsonl(right_only / "verifier.jsonl", [e for e in examples if e.text.endswith(" yes\n")])
    with pytest.raises(UserError, match=r"verifier\.jsonl: no training problem has both"):
        train_student("verifier", right_only, "scratch:tiny", tmp_path / "out", pairs)
    stepwise = tmp_path / "steps"
    write_jsonl(stepwise / "verifier.jsonl",
                [e.model_copy(update={"verdicts": "steps"}) for e in examples])
    with pytest.raises(UserError, match="one verdict per solution"):
        train_student("verifier", stepwise, "scratch:tiny", tmp_path / "out", pairs)
    assert not (tmp_path / "out").exists()


def test_students_and_verifiers_are_not_interchangeable(tiny_verifier, tmp_path):
    with pytest.raises(UserError, match=r"--model: .* is a `verifier` student"):
        load_generators("cot", {"model": tiny_verifier})
    student = tmp_path / "cot"
    student.mkdir()
    (student / "student.json").write_text(json.dumps({"task": "cot", "format_version": FORMAT_VERSION}))
    with pytest.raises(UserError, match=r"--verifier: .* is a `cot` student .* expected a `verifier`"):
        check_verifier(student)
    stale = json.loads((tiny_verifier / "student.json").read_text())
    (student / "student.json").write_text(json.dumps({**stale, "format_version": FORMAT_VERSION - 1}))
    with pytest.raises(UserError, match="format_version"):
        check_verifier(student)


def test_the_training_set_is_a_training_set(tiny_verifier):
    examples = read_jsonl(tiny_verifier.parent / "sets" / "verifier.jsonl", TrainingExample)
    assert len(examples) == 96 and {e.task for e in examples} == {"verifier"}


def test_a_solution_longer_than_the_context_is_scored_on_its_end(tiny_verifier):
    scorer = load_scorer(tiny_verifier)
    problem = make_problems(60)[50]
    run_on = verifier_prompt(problem.question, "Q: And then?\nA: More.\n" * 400 + _right(problem))
    end = verifier_prompt(problem.question, _right(problem))
    long_score, = scorer([run_on])
    assert 0 <= long_score <= 1
    assert scorer([run_on, end])[0] == pytest.approx(long_score, abs=1e-4)


def test_verifier_training_truncates_from_the_left(tiny_verifier, tmp_path):
    # Texts longer than max_length keep their end, where the verdict is: none is dropped.
    from socratic_distill.train import TrainConfig, train_student

    config = TrainConfig(max_steps=2, batch_size=16, validation_fraction=0, max_length=40,
                         save_steps=1000, logging_steps=1)
    out = train_student("verifier", tiny_verifier.parent / "sets", "scratch:tiny",
                        tmp_path / "short", config)
    stats = json.loads((out / "student.json").read_text())["data"]
    assert stats["truncated"] > 0 and stats["kept"] == 96 and stats["dropped_untrained"] == 0


def test_balanced_set_keeps_mixed_problems_with_as_many_right_as_wrong(tmp_path):
    problems = make_problems(3)
    right = [_right(problem) for problem in problems]
    wrong = [_planted_wrong(problem) for problem in problems]
    predictions = [
        _prediction(problems[0], [right[0], wrong[0], wrong[0] + "x", wrong[0] + "y"],
                    [problems[0].answer, None, None, None]),  # one right, three wrong
        _prediction(problems[1], [right[1], right[1] + "z"], [problems[1].answer] * 2),  # all right
        _prediction(problems[2], [wrong[2], right[2]], [None, problems[2].answer]),
    ]
    write_jsonl(tmp_path / "samples.jsonl", predictions)

    counts = build_verifier_set(tmp_path / "samples.jsonl", tmp_path / "sets", problems, balanced=True)
    assert (counts["right"], counts["wrong"]) == (2, 2)
    kept = read_jsonl(tmp_path / "sets" / "verifier.jsonl", TrainingExample)
    assert [example.id for example in kept].count(problems[1].id) == 0
    assert sorted(example.id for example in kept) == sorted([problems[0].id] * 2 + [problems[2].id] * 2)
    unbalanced = build_verifier_set(tmp_path / "samples.jsonl", tmp_path / "all", problems)
    assert (unbalanced["right"], unbalanced["wrong"]) == (4, 4)

    only_right = tmp_path / "right.jsonl"
    write_jsonl(only_right, predictions[1:2])
    with pytest.raises(UserError, match="no problems with both right and wrong samples"):
        build_verifier_set(only_right, tmp_path / "none", problems, balanced=True)


def _wrong_second_step(problem):
    """A two-step dialogue whose first step is right and whose second computes nothing."""
    first, second = problem.gold_steps
    return (f"Q: {first.subquestion}\nA: {first.solution} #### {first.answer}\n"
            f"Q: {second.subquestion}\nA: I do not know.\nQ: [END]\n")


def test_step_labels_come_from_where_a_sample_first_departs_from_the_gold_steps():
    from socratic_distill.build import step_labels

    problem = make_problems(2)[1]  # two gold steps
    assert step_labels(problem, _right(problem), True) == [True, True]
    assert step_labels(problem, _wrong_second_step(problem), False) == [True, False]
    wrong_first = _wrong_second_step(problem).replace(problem.gold_steps[0].answer, "99")
    assert step_labels(problem, wrong_first, False) == [False, None]
    no_gold = problem.model_copy(update={"gold_steps": None})
    assert step_labels(no_gold, _wrong_second_step(problem), False) == [None, False]


def _train_stepwise_verifier(root):
    from socratic_distill.train import TrainConfig, train_student

    problems = [p for p in make_problems(96) if len(p.gold_steps) == 2][:40]
    predictions = [_prediction(p, [_right(p), _wrong_second_step(p)], [p.answer, None])
                   for p in problems]
    write_jsonl(root / "samples.jsonl", predictions)
    build_verifier_set(root / "samples.jsonl", root / "sets", problems, stepwise=True)
    manifest = json.loads((root / "sets" / "verifier.build.json").read_text())
    assert manifest["stepwise"] is True
    config = TrainConfig(max_steps=60, batch_size=16, learning_rate=3e-3, validation_fraction=0,
                         save_steps=1000, logging_steps=20)
    return train_student("verifier", root / "sets", "scratch:tiny", root / "verifier", config)


def test_a_stepwise_verifier_ranks_a_right_sample_above_one_wrong_at_its_second_step(tmp_path):
    verifier = _train_stepwise_verifier(tmp_path)
    assert json.loads((verifier / "student.json").read_text())["verdicts"] == "steps"
    problems = [p for p in make_problems(140) if len(p.gold_steps) == 2][40:52]  # never trained on
    scorer = load_scorer(verifier)
    right = scorer([verifier_prompt(p.question, _right(p)) for p in problems])
    wrong = scorer([verifier_prompt(p.question, _wrong_second_step(p)) for p in problems])
    assert all(good > bad for good, bad in zip(right, wrong, strict=True)), (right, wrong)
    # The score is the lowest step's: the right first step alone scores above its wrong sequel.
    first_only = scorer([verifier_prompt(p.question, _wrong_second_step(p).split("\nQ: ")[0])
                         for p in problems])
    assert all(first > bad for first, bad in zip(first_only, wrong, strict=True))


def test_a_verifier_set_mixing_verdict_layouts_is_refused(tiny_verifier, tmp_path):
    from socratic_distill.train import TrainConfig, train_student

    examples = read_jsonl(tiny_verifier.parent / "sets" / "verifier.jsonl", TrainingExample)
    examples[0] = examples[0].model_copy(update={"verdicts": "steps"})
    write_jsonl(tmp_path / "sets" / "verifier.jsonl", examples)
    with pytest.raises(UserError, match=r"verifier\.jsonl: mixes verifier examples"):
        train_student("verifier", tmp_path / "sets", "scratch:tiny", tmp_path / "out",
                      TrainConfig(max_steps=1))
    assert not (tmp_path / "out").exists()

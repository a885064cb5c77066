"""Scoring predictions: every way a predictions file can disagree with the gold set."""

from __future__ import annotations

from pathlib import Path

import pytest

from socratic_distill.errors import UserError
from socratic_distill.eval.evaluate import evaluate_predictions, format_summary, load_predictions
from socratic_distill.schemas import Prediction, Problem


@pytest.fixture
def problems() -> list[Problem]:
    return [
        Problem(id="a", question="?", answer="18"),
        Problem(id="b", question="?", answer="1,200"),  # normalised to 1200
        Problem(id="c", question="?", answer="yes", answer_type="yesno"),
        Problem(id="d", question="?", answer="7"),
        Problem(id="e", question="?", answer="3"),
        Problem(id="f", question="?", answer="5"),
    ]


@pytest.fixture
def predictions() -> list[Prediction]:
    return [
        Prediction(id="a", prediction="9 * 2 = <<9*2=18>>18 dollars.\n#### 18"),
        Prediction(id="b", prediction="ignored text 5", answer="$1,200"),  # solver's answer wins
        Prediction(id="c", prediction="Paris is in France, so the answer is yes."),
        Prediction(id="a", prediction="#### 99"),  # duplicate: the first one counts
        Prediction(id="d", prediction="I cannot solve this."),  # unparsable
        Prediction(id="e", error="CUDA out of memory"),  # failed generation
        Prediction(id="zz", prediction="#### 1"),  # unknown
        Prediction(id="zz", prediction="#### 1"),
    ]


def test_counts_every_kind_of_mismatch(
    problems: list[Problem], predictions: list[Prediction]
) -> None:
    result = evaluate_predictions(problems, predictions)
    assert (result.total, result.scored, result.correct) == (6, 5, 3)
    assert result.accuracy == pytest.approx(3 / 6)  # the missing `f` counts as wrong
    assert 0 < result.ci_low < result.accuracy < result.ci_high < 1
    assert result.unparsable == 1  # `d`; the failed `e` is an error, not also unparsable
    assert result.errors == 1
    assert result.missing_ids == ["f"]
    assert result.unknown_ids == ["zz"]
    assert result.duplicate_ids == ["a", "zz"]
    assert result.mode == "flexible"
    assert [(item.id, item.predicted, item.correct) for item in result.items] == [
        ("a", "18", True),
        ("b", "1200", True),
        ("c", "yes", True),
        ("d", None, False),
        ("e", None, False),
    ]
    assert result.items[4].error == "CUDA out of memory"


def test_strict_mode_needs_a_marker(problems: list[Problem]) -> None:
    predictions = [Prediction(id="a", prediction="She makes 18 dollars."),
                   Prediction(id="f", prediction="So 5.\nThe answer is 5.")]
    strict = evaluate_predictions(problems, predictions, mode="strict")
    flexible = evaluate_predictions(problems, predictions, mode="flexible")
    assert (strict.correct, strict.unparsable) == (1, 1)
    assert (flexible.correct, flexible.unparsable) == (2, 0)


def test_solver_answer_with_units_is_still_read(problems: list[Problem]) -> None:
    result = evaluate_predictions(problems, [Prediction(id="a", answer="18 apples")])
    assert result.items[0].predicted == "18"
    assert result.correct == 1


def test_duplicate_gold_ids_are_a_user_error(problems: list[Problem]) -> None:
    with pytest.raises(UserError, match="`a`"):
        evaluate_predictions([*problems, problems[0]], [])


def test_empty_gold_set() -> None:
    result = evaluate_predictions([], [Prediction(id="x", prediction="1")])
    assert (result.total, result.accuracy, result.ci_low, result.ci_high) == (0, 0.0, 0.0, 1.0)
    assert result.unknown_ids == ["x"]


def test_format_summary(problems: list[Problem], predictions: list[Prediction]) -> None:
    summary = format_summary(evaluate_predictions(problems, predictions))
    lines = summary.splitlines()
    assert lines[0].startswith("accuracy 50.0% (95% CI ")
    assert "3/6 correct" in lines[0]
    assert "unparsable: 1" in summary
    assert "missing ids: 1 (e.g. f)" in summary
    assert "unknown ids: 1 (e.g. zz)" in summary


def test_result_round_trips_through_json(
    problems: list[Problem], predictions: list[Prediction]
) -> None:
    result = evaluate_predictions(problems, predictions)
    assert type(result).model_validate_json(result.model_dump_json()) == result


def test_ranking_is_the_within_problem_auc_of_the_scores(problems: list[Problem]) -> None:
    predictions = [
        # 2 right x 2 wrong: the right 0.9 beats both wrong, the right 0.3 ties 0.3, loses to 0.5
        Prediction(id="a", answer="18", samples=["18", "17", "18", "17"], scores=[0.9, 0.5, 0.3, 0.3]),
        # Every wrong sample above the right one: as a verifier that ranks easy problems high
        # but not samples within one would do on a hard problem.
        Prediction(id="b", answer="4", samples=["1200", "4", "4"], scores=[0.1, 0.2, 0.4]),
        Prediction(id="e", answer="3", samples=["3", "3"], scores=[0.9, 0.8]),  # no wrong sample
        Prediction(id="d", answer="6", samples=["7", "6"], scores=[None, 0.4]),  # nothing to pair
    ]
    sampled = evaluate_predictions(problems, predictions).sampled
    assert sampled.ranking == pytest.approx(2.5 / 6, abs=1e-4)  # 2.5 of a's 4 and b's 2 pairs
    assert sampled.ranking_problems == 2
    assert "AUC 0.417 over the 2 problems" in format_summary(evaluate_predictions(problems, predictions))
    unscored = evaluate_predictions(problems, [Prediction(id="a", samples=["18", "17"])])
    assert unscored.sampled.ranking is None and "AUC" not in format_summary(unscored)


def test_load_predictions(tmp_path: Path) -> None:
    path = tmp_path / "file.jsonl"
    path.write_text('{"id": "a", "prediction": "#### 18"}\n\n{"id": "b", "extra": 1}\n')
    predictions = load_predictions(path)
    assert [p.id for p in predictions] == ["a", "b"]


@pytest.mark.parametrize(
    "bad_line", ['{"id": "c", "prediction": ', '{"prediction": "no id"}', '["a list"]']
)
def test_load_predictions_names_file_and_line(tmp_path: Path, bad_line: str) -> None:
    path = tmp_path / "file.jsonl"
    path.write_text(f'{{"id": "a"}}\n{{"id": "b"}}\n{bad_line}\n')
    with pytest.raises(UserError, match=r"file\.jsonl:3"):
        load_predictions(path)


def test_samples_give_majority_and_pass_at_n_over_the_same_samples(problems: list[Problem]) -> None:
    predictions = [
        # chosen right by a verifier though the majority is wrong
        Prediction(id="a", answer="18", samples=["17", "17", "18"], scores=[0.1, 0.2, 0.9]),
        Prediction(id="b", answer="5", samples=["1,200", "1200", "5"]),  # majority right, chosen wrong
        Prediction(id="d", answer="6", samples=["6", None, "6"]),  # no sample right
        Prediction(id="e", answer="3", samples=["3", "3", "3", "3"], seconds=5.0, score_seconds=1.0),
    ]
    result = evaluate_predictions(problems, predictions)
    assert result.correct == 2
    assert result.sampled is not None and result.sampled.samples == 4
    assert result.sampled.majority == pytest.approx(2 / 6)  # b and e, over all six gold problems
    assert result.sampled.any_correct == pytest.approx(3 / 6)  # a, b, e
    assert result.sampled.scoring_cost == pytest.approx(1.0 / 4.0)  # of e, the one timed
    flags = {item.id: (item.majority_correct, item.any_correct) for item in result.items}
    assert flags == {"a": (False, True), "b": (True, True), "d": (False, False), "e": (True, True)}
    assert "majority 33.3%, pass@4 50.0%" in format_summary(result)
    # Accuracy against N, over the first k samples of each; only a has scores for a best of k.
    curve = [(p.k, round(6 * p.majority), round(6 * p.any_correct), round(6 * p.best))
             for p in result.sampled.curve]
    assert curve == [(1, 2, 2, 0), (2, 2, 2, 0), (3, 2, 3, 1), (4, 2, 3, 1)]
    unscored = evaluate_predictions(problems, [Prediction(id="e", samples=["3", "4"])])
    assert [p.best for p in unscored.sampled.curve] == [None, None]
    assert evaluate_predictions(problems, [Prediction(id="a", answer="18")]).sampled is None

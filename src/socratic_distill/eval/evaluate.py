"""Score saved predictions against gold problems: extract, normalise, compare, count.

Works on the two record types alone (`Problem`, `Prediction`), so a predictions file can be
rescored, with another extraction mode or a fixed extractor, without generating again. Every
gold problem counts: a missing prediction is a wrong answer, and the result says how many were
missing, unparsable, unknown, duplicated or failed, so a low score can be told from a broken run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from socratic_distill.data.contamination import Overlap
from socratic_distill.errors import UserError, describe_validation
from socratic_distill.eval.answers import (
    AnswerType,
    answers_match,
    extract_answer,
    majority_vote,
    normalize_answer,
    parse_number,
)
from socratic_distill.eval.diagnosis import first_error
from socratic_distill.eval.metrics import accuracy_with_ci
from socratic_distill.jsonl import read_jsonl
from socratic_distill.schemas import Prediction, Problem

Mode = Literal["strict", "flexible"]
CONFIDENCE = 0.95  # of the reported interval


class ItemResult(BaseModel):
    """One scored problem."""

    model_config = ConfigDict(extra="forbid")

    id: str
    gold: str
    predicted: str | None = Field(description="Normalised predicted answer; None if none found.")
    correct: bool
    error: str | None = Field(default=None, description="The prediction's `error`, if any.")
    num_steps: int | None = Field(default=None, description="Gold reasoning steps, if known.")
    tokens: int | None = Field(default=None, description="Tokens the solver generated.")
    first_error: str | None = Field(
        default=None, description="For a wrong answer with gold steps: where it first went wrong "
        "(one of eval.diagnosis.FIRST_ERRORS).")
    majority_correct: bool | None = Field(
        default=None, description="With samples: the majority vote over them is right.")
    any_correct: bool | None = Field(
        default=None, description="With samples: at least one of them is right (pass@N).")


class CurvePoint(BaseModel):
    """Accuracy over the first k samples of each problem."""

    model_config = ConfigDict(extra="forbid")

    k: int
    majority: float
    any_correct: float
    best: float | None = Field(default=None, description="The best-scored of k (with scores).")


class SampleResult(BaseModel):
    """Over predictions that carry samples: what any choice among the same samples could reach,
    so best-of-N by a verifier is read against majority vote and pass@N of its own samples."""

    model_config = ConfigDict(extra="forbid")

    samples: int = Field(description="Samples per problem (the most any prediction has).")
    majority: float = Field(description="Accuracy of the majority vote over the samples.")
    any_correct: float = Field(description="pass@N: problems with at least one right sample.")
    scoring_cost: float | None = Field(
        default=None, description="With a verifier: its scoring time over the sampling time.")
    ranking: float | None = Field(
        default=None, description="With scores: the verifier's within-problem AUC, the share of "
        "(right, wrong) sample pairs of one problem that it scores right above wrong (a tie is "
        "half). Best-of-N chooses within a problem, so 0.5 is chance however well the scores "
        "rank problems by difficulty.")
    ranking_problems: int | None = Field(
        default=None, description="Problems with both right and wrong scored samples (`ranking`).")
    curve: list[CurvePoint] = Field(default_factory=list, description="Accuracy against N.")


class EvalResult(BaseModel):
    """Accuracy over the gold set, with the counts that tell a weak model from a broken run."""

    model_config = ConfigDict(extra="forbid")

    total: int = Field(description="Gold problems.")
    scored: int = Field(description="Gold problems that have a prediction.")
    correct: int
    accuracy: float = Field(description="correct / total: a missing prediction counts as wrong.")
    ci_low: float = Field(description="Wilson 95% interval, lower bound.")
    ci_high: float = Field(description="Wilson 95% interval, upper bound.")
    unparsable: int = Field(description="Scored predictions, without `error`, with no answer.")
    missing_ids: list[str] = Field(description="Gold ids with no prediction.")
    unknown_ids: list[str] = Field(description="Predicted ids not in the gold set.")
    duplicate_ids: list[str] = Field(description="Ids predicted more than once; the first counts.")
    errors: int = Field(description="Scored predictions that carry an `error`.")
    mode: Mode
    items: list[ItemResult] = Field(description="Scored problems, in gold order.")
    sampled: SampleResult | None = Field(
        default=None, description="With samples (solve --samples N): majority and pass@N.")


class StudentInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, description="The students' model specs.")
    parameters: float | None = Field(default=None, description="The largest student's size.")


class Evaluation(EvalResult):
    """The record between `evaluate` and `report` (`metrics.json`): what was scored, and the
    result. The pipeline and the `evaluate` command both write it; `report` reads it."""

    run: str | None = Field(default=None, description="The run; default: its directory's name.")
    method: str = Field(description="The method (or any label) the predictions came from.")
    split: str
    dataset: str | None = Field(default=None, description="The dataset spec scored against.")
    student: StudentInfo = Field(default_factory=StudentInfo)
    train_seconds: float | None = None
    solve_seconds: float | None = None
    contamination: Overlap | None = Field(
        default=None, description="Training problems sharing a run of words with this split.")


def read_evaluation(path: Path) -> Evaluation:
    """One `metrics.json`; a malformed one is a `UserError` naming the file and the field."""
    try:
        return Evaluation.model_validate_json(path.read_text())
    except ValidationError as error:
        raise UserError(describe_validation(error, str(path))) from None


def load_predictions(path: str | Path) -> list[Prediction]:
    """Read a predictions JSONL file; a malformed line raises `UserError` naming `FILE:LINE`."""
    return read_jsonl(path, Prediction)


def _valid_for(answer: str, answer_type: AnswerType) -> bool:
    if answer_type == "number":
        return parse_number(answer) is not None
    return answer in ("yes", "no") if answer_type == "yesno" else bool(answer)


def predicted_answer(problem: Problem, prediction: Prediction, mode: Mode) -> str | None:
    """The normalised answer a prediction gives for `problem`, or None.

    The solver's own `answer` field wins: it is normalised, and searched (flexibly, since it is
    meant to hold just the answer) only when it is not already a number or yes/no, as in
    `18 apples`. Without it, the answer is extracted from the `prediction` text in `mode`.
    """
    answer_type = problem.answer_type or "text"
    if prediction.answer is not None and prediction.answer.strip():
        normalised, _ = normalize_answer(prediction.answer, answer_type)
        if _valid_for(normalised, answer_type):
            return normalised
        return extract_answer(prediction.answer, answer_type, "flexible")
    return extract_answer(prediction.prediction, answer_type, mode)


def _index_gold(problems: Iterable[Problem]) -> dict[str, Problem]:
    gold: dict[str, Problem] = {}
    for problem in problems:
        if problem.id in gold:
            raise UserError(f"problem id `{problem.id}` appears twice in the gold set; "
                            "ids must be unique (check the dataset loader)")
        gold[problem.id] = problem
    return gold


def _first_predictions(
    predictions: Iterable[Prediction], gold: dict[str, Problem]
) -> tuple[dict[str, Prediction], list[str], list[str]]:
    """The first prediction per gold id, then unknown and duplicated ids, each listed once."""
    first: dict[str, Prediction] = {}
    unknown: dict[str, None] = {}  # dicts as ordered sets: ids in file order, each once
    duplicates: dict[str, None] = {}
    seen: set[str] = set()
    for prediction in predictions:
        if prediction.id in seen:
            duplicates[prediction.id] = None
        elif prediction.id in gold:
            first[prediction.id] = prediction
        else:
            unknown[prediction.id] = None
        seen.add(prediction.id)
    return first, list(unknown), list(duplicates)


def gold_step_count(problem: Problem) -> int | None:
    """How many reasoning steps the problem takes, for accuracy by depth."""
    if isinstance(problem.meta.get("num_steps"), int):
        return problem.meta["num_steps"]
    return len(problem.gold_steps) if problem.gold_steps else None


def evaluate_predictions(
    problems: list[Problem], predictions: list[Prediction], mode: Mode = "flexible"
) -> EvalResult:
    """Score `predictions` against `problems` with answer extraction in `mode`."""
    if mode not in ("strict", "flexible"):
        raise ValueError(f"mode must be 'strict' or 'flexible', got {mode!r}")
    gold = _index_gold(problems)
    first, unknown_ids, duplicate_ids = _first_predictions(predictions, gold)
    items: list[ItemResult] = []
    hits, ranked = [], []
    for problem in gold.values():
        prediction = first.get(problem.id)
        if prediction is None:
            continue
        predicted = predicted_answer(problem, prediction, mode)
        correct = answers_match(predicted, problem.answer, problem.answer_type or "text")
        answers, right = judge_samples(problem, prediction)
        hit = _sample_hits(problem, prediction, answers, right)
        hits.append(hit)
        ranked.append(_ranked_pairs(prediction, right))
        verdicts = {"majority_correct": hit[-1][0], "any_correct": hit[-1][1]} if hit else {}
        items.append(ItemResult(id=problem.id, gold=problem.answer, predicted=predicted,
                                correct=correct, error=prediction.error,
                                num_steps=gold_step_count(problem),
                                tokens=prediction.completion_tokens,
                                first_error=None if correct else first_error(problem, prediction),
                                **verdicts))
    correct = sum(item.correct for item in items)
    accuracy, low, high = accuracy_with_ci(correct, len(gold), CONFIDENCE)
    return EvalResult(
        total=len(gold),
        scored=len(items),
        correct=correct,
        accuracy=accuracy,
        ci_low=low,
        ci_high=high,
        # A failed generation is counted once, as an error, not again as unparsable.
        unparsable=sum(item.predicted is None and item.error is None for item in items),
        missing_ids=[problem_id for problem_id in gold if problem_id not in first],
        unknown_ids=unknown_ids,
        duplicate_ids=duplicate_ids,
        errors=sum(item.error is not None for item in items),
        mode=mode,
        items=items,
        sampled=_sampled(hits, ranked, first.values(), len(gold)),
    )


def judge_samples(problem: Problem, prediction: Prediction) -> tuple[list[str | None], list[bool]]:
    """A prediction's sample answers, normalised as majority vote compares them, and which of
    them are right."""
    answer_type = problem.answer_type or "text"
    answers = [None if a is None else normalize_answer(a, answer_type)[0] for a in prediction.samples or []]
    return answers, [answers_match(answer, problem.answer, answer_type) for answer in answers]


def _sample_hits(problem: Problem, prediction: Prediction, answers: list[str | None],
                 right: list[bool]) -> list[tuple[bool, bool, bool | None]]:
    """For each k of 1..N, over the first k samples (`judge_samples`'s answers and verdicts):
    is the majority right, is any right, is the best-scored right (None without scores)."""
    if len(right) < 2:
        return []
    answer_type = problem.answer_type or "text"
    scores = prediction.scores if prediction.scores and len(prediction.scores) == len(right) else None
    hits = []
    for k in range(1, len(right) + 1):
        best = None
        if scores is not None:
            scored = [i for i in range(k) if scores[i] is not None]
            best = bool(scored) and right[max(scored, key=lambda i: scores[i])]
        majority = answers_match(majority_vote(answers[:k]), problem.answer, answer_type)
        hits.append((majority, any(right[:k]), best))
    return hits


def _ranked_pairs(prediction: Prediction, right: list[bool]) -> tuple[float, int]:
    """Over the (right, wrong) pairs of a prediction's scored samples (`right`: which samples
    are right): how many the scores order right first (a tie counts half), and how many pairs
    there are."""
    if not right or not prediction.scores or len(prediction.scores) != len(right):
        return 0.0, 0
    scored = [(score, correct) for score, correct in zip(prediction.scores, right, strict=True)
              if score is not None]
    right = [score for score, correct in scored if correct]
    wrong = [score for score, correct in scored if not correct]
    above = sum((r > w) + 0.5 * (r == w) for r in right for w in wrong)
    return above, len(right) * len(wrong)


def _sampled(hits: list[list[tuple[bool, bool, bool | None]]], ranked: list[tuple[float, int]],
             predictions: Iterable[Prediction], total: int) -> SampleResult | None:
    hits = [h for h in hits if h]
    if not hits:
        return None
    predictions = list(predictions)
    timed = [p for p in predictions if p.score_seconds is not None and p.seconds is not None]
    scoring = sum(p.score_seconds for p in timed)
    sampling = sum(p.seconds for p in timed) - scoring
    n = max(map(len, hits))
    curve = []
    for k in range(1, n + 1):  # a problem with fewer samples keeps its last verdicts
        at_k = [h[min(k, len(h)) - 1] for h in hits]
        best = [b for _, _, b in at_k if b is not None]
        # Over every gold problem, like accuracy: a missing prediction is wrong either way.
        curve.append(CurvePoint(k=k, majority=sum(m for m, _, _ in at_k) / total,
                                any_correct=sum(a for _, a, _ in at_k) / total,
                                best=sum(best) / total if best else None))
    pairs = sum(count for _, count in ranked)
    return SampleResult(samples=n, majority=curve[-1].majority, any_correct=curve[-1].any_correct,
                        scoring_cost=round(scoring / sampling, 4) if timed and sampling > 0 else None,
                        ranking=round(sum(above for above, _ in ranked) / pairs, 4) if pairs else None,
                        ranking_problems=sum(count > 0 for _, count in ranked) if pairs else None,
                        curve=curve)


def _ids(label: str, ids: list[str], shown: int = 3) -> str:
    examples = f" (e.g. {', '.join(ids[:shown])})" if ids else ""
    return f"{label}: {len(ids)}{examples}"


def format_summary(result: EvalResult) -> str:
    """A few human-readable lines: accuracy with its interval, then what went wrong."""
    sampled = result.sampled
    return "\n".join([
        f"accuracy {100 * result.accuracy:.1f}% ({100 * CONFIDENCE:.0f}% CI "
        f"{100 * result.ci_low:.1f}–{100 * result.ci_high:.1f}), "
        f"{result.correct}/{result.total} correct ({result.mode} extraction)",
        f"scored: {result.scored}; unparsable: {result.unparsable}; errors: {result.errors}",
        "; ".join([_ids("missing ids", result.missing_ids), _ids("unknown ids", result.unknown_ids),
                   _ids("duplicate ids", result.duplicate_ids)]),
        *([f"over the {sampled.samples} samples: majority {100 * sampled.majority:.1f}%, "
           f"pass@{sampled.samples} {100 * sampled.any_correct:.1f}%"] if sampled else []),
        *([f"verifier within problems: AUC {sampled.ranking:.3f} over the "
           f"{sampled.ranking_problems} problems with right and wrong samples (0.5 is chance)"]
          if sampled and sampled.ranking is not None else []),
    ])

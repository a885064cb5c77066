"""`build`: annotated problems -> the five training sets, one JSONL file per task; and the
students' own samples -> the verifier's training set (`build_verifier_set`).

Input is either normalised problems whose `gold_steps` / `gold_cot` hold the reasoning to
distil (as `data export` writes them), or teacher annotations (`annotate`'s output) joined with
their dataset by id: each kept annotation becomes one annotated problem, its steps (socratic
style) or solution (cot style) replacing the dataset's own; problems without a kept annotation
are left out. Output: DIR/{task}.jsonl of `TrainingExample` and DIR/build.json with the counts,
the format version and the input hashes.

With evaluation splits to check against, the manifest also counts the training problems that
share a run of words with each (`data.contamination`), and `drop_contaminated` leaves them out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

from socratic_distill import formats
from socratic_distill.data.contamination import NGRAM, Overlap, check_overlap, format_overlap
from socratic_distill.errors import UserError
from socratic_distill.eval.answers import answers_match
from socratic_distill.eval.diagnosis import locate_first_error, predicted_steps
from socratic_distill.jsonl import atomic_writer, file_sha256, iter_jsonl, read_jsonl, write_jsonl
from socratic_distill.methods import STUDENT_TASKS
from socratic_distill.schemas import Annotation, Prediction, Problem, TrainingExample

MANIFEST = "build.json"
VERIFIER_MANIFEST = "verifier.build.json"  # beside build.json: one directory may hold both
log = logging.getLogger(__name__)


def build_training_sets(
    problems: list[Problem],
    out_dir: str | Path,
    *,
    tasks: tuple[str, ...] = STUDENT_TASKS,
    qg_include_solutions: bool = True,
    source: dict | None = None,
    answer_problems: list[Problem] | None = None,
    contamination: list[Overlap] | None = None,
) -> dict[str, int]:
    """Write one JSONL per task and a manifest; return the example count per task.

    `answer_problems`, when given, feed the answer-only set instead: that baseline needs gold
    answers only, once per problem, however many annotations a problem has.
    """
    if not problems:
        raise UserError("no problems to build training sets from")
    out_dir = Path(out_dir)
    counts = {}
    for task in tasks:
        sources = answer_problems if task == "answer" and answer_problems else problems
        examples = [
            example
            for problem in sources
            for example in formats.build_examples(
                problem, task, qg_include_solutions=qg_include_solutions
            )
        ]
        counts[task] = write_jsonl(out_dir / f"{task}.jsonl", examples)
    manifest = {
        "format_version": formats.FORMAT_VERSION,
        "problems": len(problems),
        "examples": counts,
        "qg_include_solutions": qg_include_solutions,
        **(source or {}),
        **({"contamination": [o.model_dump() for o in contamination]} if contamination else {}),
    }
    with atomic_writer(out_dir / MANIFEST) as handle:
        json.dump(manifest, handle, indent=2)
    return counts


def annotated_problems(problems: list[Problem], annotations: list[Annotation]) -> list[Problem]:
    """One problem per kept annotation, carrying the teacher's reasoning instead of the gold one."""
    by_id = {problem.id: problem for problem in problems}
    annotated = []
    for annotation in annotations:
        if annotation.reject_reason is not None or annotation.correct is False:
            continue
        problem = by_id.get(annotation.id)
        if problem is None:
            raise UserError(f"annotation for unknown problem `{annotation.id}`: wrong --dataset?")
        update = {"id": f"{problem.id}#{annotation.sample}"}
        if annotation.style == "socratic":
            update.update(gold_steps=annotation.steps, gold_cot=None)
        else:
            update.update(gold_cot=annotation.cot, gold_steps=None)
        annotated.append(problem.model_copy(update=update))
    return annotated


def _is_annotation_file(path: Path) -> bool:
    first = next(iter_jsonl(path), None)
    return first is not None and "teacher" in first and "style" in first


def decontaminate(
    train: list[Problem], evaluations: dict[str, list[Problem]], *, n: int = NGRAM,
    drop: bool = False,
) -> tuple[list[Overlap], set[str]]:
    """The overlap with each evaluation split, logged, and the ids to leave out (none unless
    `drop`)."""
    records, ids = check_overlap(train, evaluations, n=n, drop=drop)
    for record in records:
        log.info(format_overlap(record))
    return records, {i for found in ids.values() for i in found} if drop else set()


def build_from_file(
    annotations: str | Path,
    out_dir: str | Path,
    problems: list[Problem] | None = None,
    *,
    check_against: dict[str, list[Problem]] | None = None,
    drop_contaminated: bool = False,
    **kwargs,
) -> dict[str, int]:
    """`build --annotations FILE [--dataset ...]`: validate every line, join, check the overlap
    with the evaluation splits in `check_against`, and build."""
    annotations = Path(annotations)
    if not annotations.is_file():
        raise UserError(f"{annotations}: no such file")
    if drop_contaminated and not check_against:
        raise UserError("--drop-contaminated needs the evaluation splits (--check-against)")
    source = {"annotations": str(annotations), "annotations_sha256": file_sha256(annotations)}
    teacher = _is_annotation_file(annotations)
    if teacher and problems is None:
        raise UserError(f"{annotations} holds teacher annotations: pass --dataset to join them")
    records = read_jsonl(annotations, Annotation if teacher else Problem)
    overlaps, dropped = decontaminate(problems if teacher else records, check_against or {},
                                      drop=drop_contaminated)
    if teacher:
        problems = [problem for problem in problems if problem.id not in dropped]
        records = annotated_problems(problems, [a for a in records if a.id not in dropped])
        kwargs.setdefault("answer_problems", problems)
    else:
        records = [problem for problem in records if problem.id not in dropped]
    if not records:
        what = "kept annotation" if teacher else "problems"
        raise UserError(f"{annotations}: no {what} to build from")
    return build_training_sets(records, out_dir, source=source, contamination=overlaps, **kwargs)


def step_labels(problem: Problem, solution: str, correct: bool) -> list[bool | None]:
    """Which of a sample's `formats.solution_steps` are right, for a stepwise verifier.

    A right answer makes every step right. A wrong one is wrong from the step where it first
    departs from the gold steps (`eval.diagnosis`), the steps before it right; without gold
    steps to compare, or when the sample's steps do not line up with the diagnosis's, only the
    last step is known (wrong), as a whole-solution verdict would say."""
    count = len(formats.solution_steps(solution))
    if correct:
        return [True] * count
    prediction = Prediction(id=problem.id, prediction=solution,
                            steps=formats.parse_unified(solution) or None)
    located = locate_first_error(problem, prediction)
    if located is None or len(predicted_steps(prediction)) != count:
        return [None] * (count - 1) + [False]
    first = min(located[1], count - 1)
    return [True] * first + [False] + [None] * (count - first - 1)


def with_kept_samples(
    problems: list[Problem], predictions: list[Prediction], source: str
) -> Iterator[tuple[Problem, Prediction]]:
    """Each prediction of `solve --keep-samples` with its problem; one of an unknown problem,
    or without the samples' texts, is a UserError naming `source` and its line."""
    by_id = {problem.id: problem for problem in problems}
    for number, prediction in enumerate(predictions, start=1):
        problem = by_id.get(prediction.id)
        if problem is None:
            raise UserError(f"{source}:{number}: prediction for unknown problem `{prediction.id}`:"
                            " wrong --dataset?")
        if prediction.sample_texts is None:
            raise UserError(f"{source}:{number}: no `sample_texts`: solve with --samples N "
                            "--keep-samples to make the verifier's material")
        yield problem, prediction


def verifier_examples(
    problems: list[Problem], predictions: list[Prediction], source: str, stepwise: bool = False
) -> list[tuple[TrainingExample, bool]]:
    """Every distinct kept sample of every prediction with its label, right or wrong against
    the gold answer (as `evaluate` judges it): the verifier's training set; `stepwise`, with a
    label for each step (`step_labels`)."""
    examples = []
    for problem, prediction in with_kept_samples(problems, predictions, source):
        answers = prediction.samples or [prediction.answer]
        seen: set[str] = set()
        for text, answer in zip(prediction.sample_texts, answers, strict=False):
            if text is None or text in seen:
                continue
            seen.add(text)
            correct = answers_match(answer, problem.answer, problem.answer_type or "text")
            example = (formats.stepwise_verifier_example(problem, text, step_labels(problem, text, correct))
                       if stepwise else formats.verifier_example(problem, text, correct))
            examples.append((example, correct))
    return examples


def balanced_per_problem(
    labelled: list[tuple[TrainingExample, bool]],
) -> list[tuple[TrainingExample, bool]]:
    """Only the problems with both right and wrong samples, as many of each (the first ones).

    A verdict learned per sample first learns which problems are easy, which ranks problems
    against each other but not the samples of one problem, where best-of-N chooses. Here the
    problem tells nothing about the label: only the sample's own text does.
    """
    by_problem: dict[str, dict[bool, list]] = {}
    for example, correct in labelled:
        by_problem.setdefault(example.id, {True: [], False: []})[correct].append((example, correct))
    kept = []
    for groups in by_problem.values():
        count = min(len(groups[True]), len(groups[False]))
        kept += groups[True][:count] + groups[False][:count]
    return kept


def build_verifier_set(
    samples: str | Path, out_dir: str | Path, problems: list[Problem], balanced: bool = False,
    stepwise: bool = False,
) -> dict[str, int]:
    """`build --verifier-samples FILE --dataset ...`: DIR/verifier.jsonl and its manifest,
    with the count of right and wrong samples; `balanced` keeps `balanced_per_problem`'s;
    `stepwise` labels every step (a verdict after each)."""
    samples = Path(samples)
    if not samples.is_file():
        raise UserError(f"{samples}: no such file")
    labelled = verifier_examples(problems, read_jsonl(samples, Prediction), str(samples), stepwise)
    if balanced:
        labelled = balanced_per_problem(labelled)
    if not labelled:
        what = "problems with both right and wrong samples" if balanced else "samples"
        raise UserError(f"{samples}: no {what} to build the verifier's training set from")
    out_dir = Path(out_dir)
    examples = [example for example, _ in labelled]
    right = sum(correct for _, correct in labelled)
    counts = {"verifier": write_jsonl(out_dir / "verifier.jsonl", examples)}
    manifest = {
        "format_version": formats.FORMAT_VERSION, "problems": len({e.id for e in examples}),
        "examples": counts, "right": right, "wrong": len(examples) - right,
        "samples": str(samples), "samples_sha256": file_sha256(samples), "balanced": balanced,
        "stepwise": stepwise,
    }
    with atomic_writer(out_dir / VERIFIER_MANIFEST) as handle:
        json.dump(manifest, handle, indent=2)
    return {**counts, "right": right, "wrong": len(examples) - right}

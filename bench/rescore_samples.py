"""Re-rank kept samples with a verifier, without sampling again.

    python bench/rescore_samples.py PREDICTIONS --verifier DIR -d gsm8k:test --limit 200 \
        --data-dir ../shared/data --out rescored.jsonl [--vote best|weighted] [-o KEY=VALUE ...]

PREDICTIONS comes from `solve --samples N --keep-samples` (every sample's text is in it). Each
sample is scored by the verifier exactly as `solve --verifier` scores it, and the answer is
chosen by the same vote, so comparing verifiers costs their scoring only: on GSM8K with SmolLM2
sampling is about three quarters of the time of best-of-N. The output is a predictions file like
`solve --verifier` writes (each sample's answer and score), which `evaluate` reads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from socratic_distill.build import with_kept_samples
from socratic_distill.cli import load_dataset_arg
from socratic_distill.errors import UserError
from socratic_distill.eval.evaluate import evaluate_predictions, format_summary, load_predictions
from socratic_distill.formats import parse_unified
from socratic_distill.infer.engine import Dialogue, choose
from socratic_distill.infer.solvers import score_samples
from socratic_distill.infer.verifier import load_scorer
from socratic_distill.jsonl import write_jsonl
from socratic_distill.schemas import Prediction, Problem


def kept_dialogues(problem: Problem, prediction: Prediction, where: str) -> list[Dialogue]:
    """The prediction's samples as finished dialogues (a sample without text failed)."""
    texts = prediction.sample_texts
    answers = prediction.samples or [prediction.answer]
    if len(texts) != len(answers):
        raise UserError(f"{where}: {len(texts)} sample texts but {len(answers)} sample answers")
    dialogues = []
    for replica, (text, answer) in enumerate(zip(texts, answers, strict=True)):
        dialogue = Dialogue(problem, replica, answer=answer, text=text or "")
        if text is None:
            dialogue.fail("the sample failed when it was drawn")
        else:
            dialogue.steps = parse_unified(text, dialogue.answer_type)
        dialogues.append(dialogue)
    return dialogues


def rescore(problems: list[Problem], predictions: list[Prediction], scorer, vote: str,
            source: str) -> list[Prediction]:
    kept = [kept_dialogues(problem, prediction, f"{source}:{number}") for number, (problem, prediction)
            in enumerate(with_kept_samples(problems, predictions, source), start=1)]
    # One scorer call over every sample, as `solve` scores a chunk: the verifier's batches fill.
    scores = score_samples([dialogue for dialogues in kept for dialogue in dialogues], scorer)
    rescored, offset = [], 0
    for prediction, dialogues in zip(predictions, kept, strict=True):
        ordered = [scores.get(offset + i) for i in range(len(dialogues))]
        offset += len(dialogues)
        choice = choose(dialogues, ordered, vote)
        chosen = choice.chosen
        score_seconds = sum(dialogue.score_seconds for dialogue in dialogues)
        rescored.append(prediction.model_copy(update=dict(
            prediction=chosen.text if chosen else None, answer=choice.answer,
            steps=(chosen.steps or None) if chosen else None, scores=ordered, score=choice.score,
            score_seconds=round(score_seconds, 4),
            seconds=round(prediction.seconds - (prediction.score_seconds or 0.0) + score_seconds, 4),
        )))
    return rescored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", type=Path, help="from solve --samples N --keep-samples")
    parser.add_argument("--verifier", type=Path, required=True, help="a `train --task verifier` directory")
    parser.add_argument("-d", "--dataset", required=True, help="the problems the samples solve")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--data-dir")
    parser.add_argument("-o", "--dataset-option", action="append", metavar="KEY=VALUE",
                        help="for the dataset, as `solve -o` (repeatable)")
    parser.add_argument("--vote", choices=["best", "weighted"], default="best")
    parser.add_argument("--batch-size", type=int, default=16, help="verifier prompts scored together")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    try:
        problems = load_dataset_arg(args.dataset, args.limit, args.data_dir, args.dataset_option)
        predictions = load_predictions(args.predictions)
        scorer = load_scorer(args.verifier, batch_size=args.batch_size)
        rescored = rescore(problems, predictions, scorer, args.vote, str(args.predictions))
    except UserError as error:  # the message names the file, line or flag, as the CLI's do
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    write_jsonl(args.out, rescored)
    print(format_summary(evaluate_predictions(problems, rescored)))


if __name__ == "__main__":
    main()

"""A measured lever for longer problems (issue 15): the decomposer reads a rewritten problem, not
the dialogue so far.

After each step the fact that the step resolved is replaced in the problem by what the step
found (`Diego collected twice as many rocks as Jonah.` becomes `Diego collected 28 rocks.`), and
the question by its answer once the step asks it; the history is dropped. Each turn then shows a
one-step problem: ask about the first fact that is not a number yet, and stop when no question
is left. Neither where that fact stands from the start nor from the question is the same from
turn to turn, so a student cannot find it by counting, and no text gets longer than the problem.
The steps must quote the fact they resolve (`synthetic`'s `quote_facts`), which says which
sentence to replace.

    python bench/state_rewrite.py build --out DIR -o quote_facts=true ...   # DIR/unified.jsonl
    socratic-distill train --task unified --data DIR --model scratch:tiny:bloom --out STUDENT ...
    python bench/state_rewrite.py solve --student STUDENT -d synthetic:test-hard -o ... --out P.jsonl
    socratic-distill evaluate --predictions P.jsonl -d synthetic:test-hard -o ...

The student needs positions that read past training's lengths: a GPT-2 one does not copy the
quotes of long questions and solves 2.0% of `test-hard`; an ALiBi one (`scratch:tiny:bloom`)
solves 21.0-25.5% (BENCHMARKS.md, stops 39 and 40).

A bench script, not a method: it needs steps that quote their facts, which only `synthetic`
writes.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from socratic_distill.calculator import ANSWER_MARK
from socratic_distill.cli import load_dataset_arg
from socratic_distill.data.synthetic import quoted_fact, sentences
from socratic_distill.errors import UserError
from socratic_distill.formats import (
    END_MARKER,
    FORMAT_VERSION,
    header,
    qa_prompt,
    qg_prompt,
    socratic_layout,
    without_calculator_results,
)
from socratic_distill.infer.engine import Dialogue
from socratic_distill.jsonl import write_jsonl
from socratic_distill.schemas import Prediction, Problem, Step, TrainingExample

WORKING = re.compile(r"\S+ = <<[^>]*>>")  # `14*2 = <<14*2=28>>`: what the value sentence drops


def found_sentence(step: Step) -> str:
    """What a step found, as a sentence of the problem: its solution without the working."""
    solution = step.solution.split(ANSWER_MARK)[0]
    return " ".join(WORKING.sub("", solution).split())


def rewrite(state: str, step: Step) -> str | None:
    """`state` with the sentence `step` quotes replaced by what it found, and the question
    dropped once the step asks it; None when the quote is not a sentence of `state`."""
    asked, fact = sentences(step.subquestion), quoted_fact(step.subquestion)
    found = found_sentence(step)
    parts = sentences(state)
    if not parts or not asked or not found:
        return None
    quote = fact or asked[-1]  # a step that only asks resolves the question itself
    if quote not in parts:
        return None
    parts[parts.index(quote)] = found
    if fact and parts[-1] == asked[-1]:  # the fact resolved was the question's own
        parts.pop()
    return " ".join(parts)


def state_examples(problem: Problem) -> list[TrainingExample]:
    """One example per turn (`unified` texts: each one step, or the end marker)."""
    steps = list(problem.gold_steps or [])
    if not steps:
        return []
    steps[-1] = steps[-1].model_copy(update={"answer": problem.answer})
    examples, state = [], problem.question
    for step in [*steps, None]:
        layout = socratic_layout(state, [step] if step else [], finished=step is None)
        head = len(header(state))
        spans = without_calculator_results(layout.text, [(head, len(layout.text))])
        examples.append(TrainingExample(id=problem.id, task="unified", text=layout.text,
                                        loss_spans=spans, format_version=FORMAT_VERSION))
        if step is not None:
            state = rewrite(state, step)
            if state is None:  # a step that quotes nothing: the problem is left out
                return []
    return examples


class StateDialogue(Dialogue):
    """A dialogue whose prompts show the rewritten problem alone."""

    def __init__(self, problem: Problem, replica: int = 0):
        super().__init__(problem, replica)
        self.state = problem.question

    def ask_prompt(self, include_solutions: bool = True) -> str:
        return qg_prompt(self.state, [], self.problem.context)

    def solve_prompt(self) -> str:
        return qa_prompt(self.state, [], self.steps[-1].subquestion, self.problem.context)

    def take_solution(self, text: str, max_steps: int | None = None) -> Step:
        step = super().take_solution(text, max_steps)
        state = rewrite(self.state, step)
        if state is None:  # it quoted no sentence: nothing can be rewritten, so it stops here
            self.done = True
        else:
            self.state = state
        return step


def build(args) -> None:
    problems = load_dataset_arg(args.dataset, args.limit, args.data_dir, args.dataset_option)
    examples = [example for problem in problems for example in state_examples(problem)]
    kept = len({example.id for example in examples})
    Path(args.out).mkdir(parents=True, exist_ok=True)
    write_jsonl(Path(args.out) / "unified.jsonl", examples)
    print(f"{len(examples)} examples of {kept} problems ({len(problems) - kept} left out)")


def solve(args) -> None:
    from socratic_distill.infer.config import make_config
    from socratic_distill.infer.run import load_generators
    from socratic_distill.infer.solvers import _Caller, _socratic

    problems = load_dataset_arg(args.dataset, args.limit, args.data_dir, args.dataset_option)
    generators = load_generators("socratic", {"qg": args.student, "qa": args.student})
    # The prompts change from turn to turn, so no turn extends the one before's prefix.
    config = make_config(method="socratic", batch_size=args.batch_size, prefix_cache=False)
    jobs = [StateDialogue(problem) for problem in problems]
    _socratic(jobs, generators["qg"], generators["qa"], config, _Caller(config))
    write_jsonl(args.out, [
        Prediction(id=job.problem.id, prediction=job.text, answer=job.answer,
                   steps=job.steps or None, error=job.error)
        for job in jobs
    ])
    print(f"{sum(job.ended for job in jobs)} of {len(jobs)} dialogues ended with {END_MARKER}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("build", "solve"):
        command = commands.add_parser(name)
        command.add_argument("-d", "--dataset", default="synthetic:train")
        command.add_argument("-o", "--dataset-option", action="append", metavar="KEY=VALUE")
        command.add_argument("--limit", type=int)
        command.add_argument("--data-dir")
        command.add_argument("--out", required=True)
    commands.choices["solve"].add_argument("--student", required=True)
    commands.choices["solve"].add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)
    try:
        {"build": build, "solve": solve}[args.command](args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

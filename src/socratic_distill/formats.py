"""The text layouts that students are trained on and prompted with, defined once.

Every task starts from the same header and ends a final answer with GSM8K's `#### n`::

    Question: Natalia sold clips to 48 of her friends in April, ...?
    Q: How many clips did Natalia sell in May?
    A: Natalia sold 48/2 = <<48/2=24>>24 clips in May. #### 24
    Q: How many clips did Natalia sell altogether in April and May?
    A: Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May. #### 72
    Q: [END]

That Socratic sequence is shared by three tasks, which differ only in the spans that carry
the loss: `unified` learns everything after the header, `qg` (the decomposer) the text after
each `Q:` (subquestions and the end marker), `qa` (the solver) the text after each `A:`.
At inference the decomposer is prompted with the sequence so far ending in `Q:`, the solver
with the sequence ending in `A:`; both stop at the end of their line. The final answer is the
last step's `#### n`. `answer` and `cot` complete the header with `#### n` or with the plain
solution followed by `#### n`. A `Facts: ...` line precedes the question when a problem has
context (StrategyQA).

Completions start with a space after `Q:`/`A:` and prompts end before it, so that the
tokenizer sees the same token boundaries in training and at inference. What the calculator
writes into an annotation at inference carries no loss (solve with the calculator on, the
default): the `EXPR=VALUE>>VALUE` of an annotation opened after its expression, so the student
learns to write the expression once. The calculator also writes the answer after `####`, the
step's last result, but that copy stays trained (`calculator_spans` says why).
A verifier reads a whole solution (any method's text after the header) and then a verdict
line, `Verdict: yes` when its final answer is right, `Verdict: no` when not; only the verdict
word carries the loss, and at inference the verifier's score is P(yes) / (P(yes) + P(no)) at
`Verdict:`. A stepwise verifier reads a verdict line after every step instead (`solution_steps`
says where steps end), learns `no` at the first wrong one (the text ends there), and at
inference reads every step's verdict with `yes` written after the ones before, as training
shows them; the lowest is the score. Bump FORMAT_VERSION whenever a layout changes: trained
students record it and solvers check it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from socratic_distill.calculator import ANNOTATION_RE, ANSWER_MARK, calculator_completion
from socratic_distill.eval.answers import extract_answer, solution_result
from socratic_distill.schemas import Problem, Step, TrainingExample

FORMAT_VERSION = 2

SUBQUESTION = "Q:"
SOLUTION = "A:"
END_MARKER = "[END]"
LINE_END = "\n"  # qg and qa generate one line each
VERDICT = "Verdict:"
VERDICT_WORDS = {True: "yes", False: "no"}


def header(question: str, context: str | None = None) -> str:
    facts = f"Facts: {' '.join(context.split())}\n" if context else ""
    return f"{facts}Question: {' '.join(question.split())}\n"


def final_answer(answer: str) -> str:
    return f"{ANSWER_MARK} {answer}"


def step_answer(step: Step, answer_type: str = "number") -> str | None:
    """The step's answer: its own field, else what its solution computes."""
    if step.answer:
        return step.answer
    return solution_result(step.solution, answer_type) if step.solution else None


def solution_line(solution: str, answer: str | None) -> str:
    """The solver's line after `A:`: the solution, then `#### answer` when known."""
    text = " ".join(solution.split())
    return f"{text} {final_answer(answer)}" if answer else text


@dataclass
class Layout:
    """A rendered Socratic sequence and the spans of each kind of completion in it."""

    text: str = ""
    subquestions: list[tuple[int, int]] = field(default_factory=list)
    solutions: list[tuple[int, int]] = field(default_factory=list)
    end: list[tuple[int, int]] = field(default_factory=list)

    def add(self, prefix: str, completion: str, spans: list[tuple[int, int]]) -> None:
        self.text += prefix
        start = len(self.text)
        self.text += f" {completion}{LINE_END}"
        spans.append((start, len(self.text)))


def socratic_layout(
    question: str,
    steps: list[Step],
    *,
    context: str | None = None,
    finished: bool = True,
    include_solutions: bool = True,
    answer_type: str = "number",
) -> Layout:
    """The Socratic sequence of `steps`, closed by the end marker when `finished`."""
    layout = Layout(text=header(question, context))
    for step in steps:
        layout.add(SUBQUESTION, " ".join(step.subquestion.split()), layout.subquestions)
        if include_solutions:
            line = solution_line(step.solution, step_answer(step, answer_type))
            layout.add(SOLUTION, line, layout.solutions)
    if finished:
        layout.add(SUBQUESTION, END_MARKER, layout.end)
    return layout


# ---- prompts at inference: exactly the training text up to the completion ----


def answer_prompt(question: str, context: str | None = None) -> str:
    return header(question, context)


cot_prompt = answer_prompt
unified_prompt = answer_prompt


def qg_prompt(
    question: str, steps: list[Step], context: str | None = None, include_solutions: bool = True
) -> str:
    layout = socratic_layout(
        question, steps, context=context, finished=False, include_solutions=include_solutions
    )
    return layout.text + SUBQUESTION


def qa_prompt(
    question: str, steps: list[Step], subquestion: str, context: str | None = None
) -> str:
    layout = socratic_layout(question, steps, context=context, finished=False)
    return f"{layout.text}{SUBQUESTION} {' '.join(subquestion.split())}{LINE_END}{SOLUTION}"


def verifier_prompt(question: str, solution: str, context: str | None = None) -> str:
    """A solution as the verifier reads it, ending where the verdict word follows."""
    return f"{header(question, context)}{solution.strip()}{LINE_END}{VERDICT}"


def solution_steps(solution: str) -> list[str]:
    """A solution's steps as a stepwise verifier judges them: in a Socratic dialogue each ends
    with an `A:` line, in a plain solution with a line that computes (`<<`); the lines after the
    last one (`Q: [END]`, `#### n`) belong to it."""
    lines = solution.strip().split(LINE_END)
    socratic = any(line.startswith(SOLUTION) for line in lines)
    steps, current = [], []
    for line in lines:
        current.append(line)
        if line.startswith(SOLUTION) if socratic else "<<" in line:
            steps.append(LINE_END.join(current))
            current = []
    if current and steps:
        steps[-1] += LINE_END + LINE_END.join(current)
    elif current:
        steps.append(LINE_END.join(current))
    return steps


def _with_verdicts(head: str, steps: Sequence[str], words: Sequence[str]) -> tuple[str, list[int]]:
    """`head` and the steps, each followed by a verdict line; `words` are the verdicts of the
    first len(words) steps. Returns the text and where each `Verdict:` ends."""
    text, ends = head, []
    for number, step in enumerate(steps):
        text += f"{step}{LINE_END}{VERDICT}"
        ends.append(len(text))
        if number < len(words):
            text += f" {words[number]}{LINE_END}"
    return text, ends


def stepwise_verifier_text(prompt: str) -> tuple[str, list[int]]:
    """A `verifier_prompt` laid out for a stepwise verifier, `yes` after every verdict but the
    last, where the text ends: the text, and where each step's `Verdict:` ends."""
    body = prompt[: -len(LINE_END + VERDICT)]
    start = body.index(LINE_END, body.index("Question: ")) + 1  # the header is one line per field
    steps = solution_steps(body[start:])
    return _with_verdicts(body[:start], steps, [VERDICT_WORDS[True]] * (len(steps) - 1))


# ---- parsing what students generate ----


def parse_subquestion(generated: str) -> str | None:
    """The decomposer's line: a subquestion, or None for the end marker (or nothing at all)."""
    line = generated.split(LINE_END, 1)[0].strip()
    return None if not line or line.startswith(END_MARKER) else line


def parse_solution(generated: str, answer_type: str = "number") -> Step:
    """The solver's line as a step (subquestion left empty for the caller to fill)."""
    line = generated.split(LINE_END, 1)[0].strip()
    solution, mark, tail = line.rpartition(ANSWER_MARK)
    if not mark:
        return Step(subquestion="", solution=line, answer=extract_answer(line, answer_type))
    return Step(subquestion="", solution=solution.strip(), answer=extract_answer(
        f"{ANSWER_MARK} {tail}", answer_type, "strict"))


def parse_unified(generated: str, answer_type: str = "number") -> list[Step]:
    """Steps from a unified model's output (`Q:`/`A:` lines), stopping at the end marker."""
    steps: list[Step] = []
    for raw in generated.split(LINE_END):
        line = raw.strip()
        if line.startswith(SUBQUESTION):
            subquestion = parse_subquestion(line[len(SUBQUESTION):])
            if subquestion is None:
                break
            steps.append(Step(subquestion=subquestion, solution=""))
        elif line.startswith(SOLUTION) and steps and not steps[-1].solution:
            parsed = parse_solution(line[len(SOLUTION):], answer_type)
            steps[-1] = Step(
                subquestion=steps[-1].subquestion, solution=parsed.solution, answer=parsed.answer
            )
    return steps


# ---- training examples ----


def _closing_steps(problem: Problem) -> list[Step]:
    """Gold steps with the last step's answer set to the gold answer: the last answer is final."""
    steps = list(problem.gold_steps or [])
    if steps:
        steps[-1] = steps[-1].model_copy(update={"answer": problem.answer})
    return steps


def calculator_spans(text: str) -> list[tuple[int, int]]:
    """The spans of `text` that the calculator writes into an annotation at inference
    (`calculator_completion`): `EXPR=VALUE>>VALUE` of an annotation opened right after its
    expression, else its `VALUE>>VALUE`; none where the text is not what it would write.

    The answer after `####`, which the calculator also writes, keeps its loss: students trained
    without it lost 14-19 points (BENCHMARKS.md, stop 31). Copying it is practice for the
    copying that the next step's expression needs."""
    spans = []
    for match in ANNOTATION_RE.finditer(text):
        for cut in (match.start() + 2, match.start(2)):  # after `<<`, else after `=`
            written = calculator_completion(text[:cut])
            if written and text.startswith(written, cut):
                spans.append((cut, cut + len(written)))
                break
    return spans


def without_calculator_results(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`spans` minus what the calculator writes at inference (`calculator_spans`), so the
    student spends no capacity learning to compute or copy it."""
    holes = calculator_spans(text)
    kept = []
    for start, end in spans:
        for hole_start, hole_end in holes:
            if start < hole_end and hole_start < end:
                if start < hole_start:
                    kept.append((start, hole_start))
                start = max(start, hole_end)
        if start < end:
            kept.append((start, end))
    return kept


def _example(problem: Problem, task: str, text: str, spans: list[tuple[int, int]]):
    return TrainingExample(
        id=problem.id, task=task, text=text, format_version=FORMAT_VERSION,
        loss_spans=without_calculator_results(text, spans),
    )


def build_examples(
    problem: Problem, task: str, *, qg_include_solutions: bool = True
) -> list[TrainingExample]:
    """The training examples of one problem for one task; [] when it lacks what the task needs."""
    head = header(problem.question, problem.context)
    answer_line = f"{final_answer(problem.answer)}{LINE_END}"
    if task in ("answer", "cot"):
        if task == "cot" and not problem.gold_cot:
            return []
        cot = f"{problem.gold_cot.strip()}{LINE_END}" if task == "cot" else ""
        completion = cot + answer_line
        return [_example(problem, task, head + completion, [(len(head), len(head + completion))])]
    steps = _closing_steps(problem)
    if not steps or (task != "qg" and not all(step.solution.strip() for step in steps)):
        return []
    layout = socratic_layout(
        problem.question,
        steps,
        context=problem.context,
        include_solutions=task != "qg" or qg_include_solutions,
        answer_type=problem.answer_type or "number",
    )
    spans = {
        "unified": [(len(head), len(layout.text))],
        "qg": layout.subquestions + layout.end,
        "qa": layout.solutions,
    }[task]
    return [_example(problem, task, layout.text, sorted(spans))]


def verifier_example(problem: Problem, solution: str, correct: bool) -> TrainingExample:
    """One labelled solution of `problem` for the verifier; the loss is on the verdict word.
    Its id is the problem's, so that a validation split keeps all of a problem's samples on
    one side."""
    prompt = verifier_prompt(problem.question, solution, problem.context)
    text = f"{prompt} {VERDICT_WORDS[correct]}{LINE_END}"
    return TrainingExample(id=problem.id, task="verifier", text=text,
                           loss_spans=[(len(prompt), len(text))], format_version=FORMAT_VERSION)


def stepwise_verifier_example(
    problem: Problem, solution: str, labels: Sequence[bool | None]
) -> TrainingExample:
    """One solution with a verdict after each of its `solution_steps`; `labels` says which are
    right (None: not known, `yes` written without loss). The text ends at the first wrong
    step's `no`: what follows a wrong step is never judged."""
    steps = solution_steps(solution)
    if len(labels) != len(steps):
        raise ValueError(f"{len(labels)} labels for {len(steps)} steps")
    labels = list(labels)
    if False in labels:
        labels = labels[: labels.index(False) + 1]
    words = [VERDICT_WORDS[label is not False] for label in labels]
    text, ends = _with_verdicts(header(problem.question, problem.context), steps[: len(labels)], words)
    spans = [(end, end + len(f" {word}{LINE_END}"))
             for end, word, label in zip(ends, words, labels, strict=True) if label is not None]
    return TrainingExample(id=problem.id, task="verifier", text=text, loss_spans=spans,
                           format_version=FORMAT_VERSION, verdicts="steps")

"""Teacher completions -> steps and a final answer, whatever the layout the teacher chose.

Socratic completions are read line by line. A line is a sub-question (`Q:`, `Q1:`,
`Sub-question 1:`, `Question 2.`, `Step 3:`), an answer (`A:`, `A1:`, `Answer 1:`,
`Solution:`), GSM8K's one-line `sub-question? ** solution`, a final-answer line (`Final answer:`,
`The answer is`, `####`, `\\boxed{}`, `Therefore, the answer is`), or a continuation of the line
before. Numbering (`1.`, `(2)`), bullets, headings and `**bold**` labels are looked through;
chatter before the first sub-question and after the final-answer line is ignored; an unlabelled
line right after a sub-question is its answer. Without a final-answer line the last step's
answer counts. CoT completions keep their text up to the final-answer line.

Nothing is dropped: what cannot be read gives `Parsed.error` (`empty completion`,
`unparsable: ...`, `no final answer`), which becomes the record's reject reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from socratic_distill.eval.answers import AnswerType, extract_answer
from socratic_distill.schemas import Step


@dataclass
class Parsed:
    steps: list[Step] = field(default_factory=list)
    cot: str | None = None
    final_answer: str | None = None
    error: str | None = None


_BULLET_RE = re.compile(r"^(?:#{1,3}\s+|[-*•>]\s+|\(?\d{1,2}[.)]\s+(?=\D))+")
_QUESTION_RE = re.compile(
    r"^(?:sub[-\s]?questions?|questions?|q|steps?)\s*#?\s*(?P<n>\d+)?\s*[:.)]\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_ANSWER_RE = re.compile(
    r"^(?:sub[-\s]?answers?|answers?|a|solutions?)\s*#?\s*(?P<n>\d+)?\s*[:.)]\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_INLINE_ANSWER_RE = re.compile(r"\s(?:A\d*|Answer\s*\d*)\s*:\s+", re.IGNORECASE)
_GSM8K_RE = re.compile(r"^(?P<q>[^*].*?\?)\s+\*\*\s+(?P<a>.*)$")
_FINAL_RE = re.compile(
    r"^(?:(?:so|thus|therefore|hence|in conclusion)\b[\s,:]*)?(?:the\s+)?"
    r"(?:final\s+answer|answer\s+is|answer\s*:)|^####|^\\boxed\{",
    re.IGNORECASE,
)
_FINAL_ANYWHERE_RE = re.compile(
    r"(?:final\s+answer|\banswer\s+is\b|\banswer\s*:|####|\\boxed\{)", re.IGNORECASE
)
_END_RE = re.compile(r"^(?:q:\s*)?\[END\]", re.IGNORECASE)
_CHATTER_RE = re.compile(
    r"^(?:sure|certainly|okay|ok|of course|absolutely|great|here(?:'s| is| are)|"
    r"let(?:'s| us| me)\s+(?:think|solve|break|work|go|start))\b",
    re.IGNORECASE,
)
_LEAD_IN_RE = re.compile(
    r"(?:\b(?:so|thus|therefore|hence|the|in conclusion)\b[\s,:]*)+$", re.IGNORECASE
)
_TRAILING_MARK_RE = re.compile(r"\s*####\s*(?P<answer>[^#\n]*)$")


def clean_line(line: str) -> str:
    """A line without markdown emphasis, headings, bullets or list numbering."""
    text = line.strip().replace("**", "").replace("__", "")
    return _BULLET_RE.sub("", text).strip()


def parse_completion(
    text: str | None, style: str, answer_type: AnswerType = "number", question: str | None = None
) -> Parsed:
    """Parse one completion; `question` (the problem's) lets an echo of it be skipped."""
    if text is None or not text.strip():
        return Parsed(error="empty completion")
    if style == "cot":
        return _parse_cot(text, answer_type)
    return _parse_socratic(text, answer_type, question)


def _final_from(line: str, answer_type: AnswerType) -> str | None:
    return extract_answer(line, answer_type, "strict") or extract_answer(
        _FINAL_ANYWHERE_RE.split(line, maxsplit=1)[-1], answer_type, "flexible"
    )


def _parse_socratic(text: str, answer_type: AnswerType, question: str | None) -> Parsed:
    steps: list[list[str]] = []  # [subquestion, solution] while being read
    final_line = None
    for raw in text.splitlines():
        if not raw.strip():
            continue
        listed = _BULLET_RE.match(raw.strip().lstrip("*_"))
        gsm8k = _GSM8K_RE.match(_BULLET_RE.sub("", raw.strip()))
        line = clean_line(raw)
        if _END_RE.match(line):
            break
        if gsm8k and not _QUESTION_RE.match(line):
            steps.append([clean_line(gsm8k.group("q")), clean_line(gsm8k.group("a"))])
            continue
        if q := _QUESTION_RE.match(line):
            steps.append(list(_split_inline(q.group("rest"))))
            continue
        if listed and "?" in line and not _ANSWER_RE.match(line) and not _FINAL_RE.match(line):
            # `1. How many clips in May? 48/2 = 24`: a numbered sub-question without a label
            subquestion, _, inline = line.partition("?")
            steps.append([f"{subquestion}?", _split_inline(inline)[1] or inline.strip()])
            continue
        a = _ANSWER_RE.match(line)
        bare_answer = a and a.group("n") is None and line[:6].lower().startswith("answer")
        if a and steps and not (bare_answer and steps[-1][1]):
            steps[-1][1] = _join(steps[-1][1], a.group("rest"))
            continue
        if _FINAL_RE.match(line) and (steps or bare_answer):
            final_line = line
            break
        if steps:  # a continuation, or the answer of an unlabelled solution line
            steps[-1][1] = _join(steps[-1][1], line)
    return _finish_socratic(steps, final_line, answer_type, question)


def _split_inline(rest: str) -> tuple[str, str]:
    """`How many...? A: 24` -> the sub-question and its inline answer."""
    parts = _INLINE_ANSWER_RE.split(f" {rest}", maxsplit=1)
    if len(parts) == 2:
        return parts[0].strip(), parts[1].strip()
    return rest.strip(), ""


def _join(before: str, more: str) -> str:
    return f"{before}\n{more.strip()}" if before else more.strip()


def _finish_socratic(
    raw_steps: list[list[str]], final_line: str | None, answer_type: AnswerType, question
) -> Parsed:
    raw_steps = [step for step in raw_steps if step[0]]
    echo = " ".join((question or "").split()).lower()
    if len(raw_steps) > 1 and " ".join(raw_steps[0][0].split()).lower() == echo:
        raw_steps = raw_steps[1:]  # the problem repeated before the decomposition
    if not raw_steps:
        return Parsed(error="unparsable: no sub-questions found")
    steps = [_step(subquestion, solution, answer_type) for subquestion, solution in raw_steps]
    final = _final_from(final_line, answer_type) if final_line else None
    if final is None:
        final = steps[-1].answer
    if final is None:
        return Parsed(steps=steps, error="no final answer")
    return Parsed(steps=steps, final_answer=final)


def _step(subquestion: str, solution: str, answer_type: AnswerType) -> Step:
    solution = solution.strip()
    marked = _TRAILING_MARK_RE.search(solution)
    answer = None
    if marked:  # the students' `... #### 24` layout: the mark carries the step's answer
        answer = extract_answer(f"#### {marked.group('answer')}", answer_type, "strict")
        solution = solution[: marked.start()].strip()
    if answer is None and solution:
        answer = extract_answer(solution, answer_type, "flexible")
    return Step(subquestion=subquestion.strip(), solution=solution, answer=answer)


def _parse_cot(text: str, answer_type: AnswerType) -> Parsed:
    lines = [line.strip() for line in text.strip().splitlines()]
    while lines and (not lines[0] or _CHATTER_RE.match(clean_line(lines[0]))):
        lines.pop(0)
    if lines and re.match(r"^(?:solution|reasoning)\s*:\s*$", clean_line(lines[0]), re.I):
        lines.pop(0)
    final_index = None
    for index, line in enumerate(lines):
        if _FINAL_ANYWHERE_RE.search(line):
            final_index = index  # the last marked line wins; what follows is chatter
    body = lines if final_index is None else lines[:final_index]
    final = None
    if final_index is not None:
        line = lines[final_index]
        before = _FINAL_ANYWHERE_RE.split(line, maxsplit=1)[0]
        before = _LEAD_IN_RE.sub("", before)
        if clean_line(before).strip(" .,:;"):
            body = [*body, before.strip()]
        final = _final_from(line, answer_type)
    cot = "\n".join(line.replace("**", "") for line in body if line).strip()
    if not cot:
        return Parsed(final_answer=final, error="unparsable: no reasoning before the answer")
    if final is None:
        final = extract_answer(cot, answer_type, "flexible")
    if final is None:
        return Parsed(cot=cot, error="no final answer")
    return Parsed(cot=cot, final_answer=final)

"""Teachers that call no model: `gold`, `synthetic` (gold with noise) and `replay:FILE`.

`gold` renders a problem's own annotations (GSM8K's Socratic steps or solution, the synthetic
generator's traces, StrategyQA's decomposition) in the answer format that the prompts ask for,
so they go through the same parser and checks as a live teacher's text. `synthetic` does the
same and, with probability `noise`, corrupts each step: the result of its calculation is
changed (in the `<<expr=value>>` annotation and the text), or, for a step with nothing to
compute, the final answer. Either way the checks reject the sample. The randomness is seeded
by (seed, id, sample), so a rerun writes the same text.

`replay:FILE` reads completions produced elsewhere (e.g. a provider's batch API), one JSON line
`{"id", "sample", "completion"[, "usage"]}` each; a malformed line is a UserError `FILE:LINE`.
A pair missing from the file stays to be done (a later run with a fuller file adds it).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from socratic_distill.calculator import format_number
from socratic_distill.errors import UserError, describe_validation
from socratic_distill.eval.answers import parse_number
from socratic_distill.jsonl import iter_jsonl
from socratic_distill.schemas import Problem, Step
from socratic_distill.teacher.backends import Completion, Request, Teacher, register_teacher
from socratic_distill.teacher.config import AnnotateConfig
from socratic_distill.teacher.prompts import render_cot, render_socratic
from socratic_distill.teacher.verify import has_gold


def gold_text(problem: Problem, style: str) -> str | None:
    """The problem's own annotation as a completion, or None when it has none for `style`."""
    final = problem.answer if has_gold(problem) else None
    steps = problem.gold_steps or []
    if style == "socratic":
        return render_socratic(steps, final) if steps else None
    if problem.gold_cot:
        return render_cot(problem.gold_cot.splitlines(), final)
    if steps and all(step.solution.strip() for step in steps):
        return render_cot([step.solution for step in steps], final)
    return None


@dataclass
class GoldTeacher:
    name: str
    style: str
    noise: float = 0.0
    seed: int = 0
    paid: bool = False
    batch_size: int = 64
    identity: dict[str, Any] = field(default_factory=dict)

    async def complete(self, requests: Sequence[Request]) -> list[Completion]:
        return [self._one(request.problem, request.sample) for request in requests]

    def _one(self, problem: Problem, sample: int) -> Completion:
        if self.noise:
            problem = corrupt(problem, self.style, self.noise, self._rng(problem.id, sample))
        text = gold_text(problem, self.style)
        if text is None:
            return Completion(None, error=f"no gold annotation: the dataset has none for "
                                          f"style {self.style}")
        return Completion(text)

    def _rng(self, problem_id: str, sample: int) -> random.Random:
        digest = hashlib.sha256(f"{self.seed}\0{problem_id}\0{sample}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    async def aclose(self) -> None:
        return None


@register_teacher("gold", None, "the dataset's own annotations (GSM8K steps, synthetic traces)")
def _gold(argument: str, config: AnnotateConfig) -> Teacher:
    return GoldTeacher("gold", config.style)


@register_teacher("synthetic", None, "the gold traces, each step corrupted with P = `noise`")
def _synthetic(argument: str, config: AnnotateConfig) -> Teacher:
    return GoldTeacher("synthetic", config.style, config.noise, config.seed or 0)


# ---- noise ----

_ANNOTATION_RE = re.compile(
    r"<<(?P<expr>[^<>=]*)=(?P<value>[^<>]*)>>(?P<shown>\s*\$?-?[\d,]*\.?\d+)?"
)
_EQUATION_RE = re.compile(
    r"(?P<left>\d[\d.,\s]*[-+*/x×÷][\d.,\s+\-*/x×÷()]*?)=\s*(?P<value>-?\d[\d,]*(?:\.\d+)?)"
)


def _wrong_number(text: str, rng: random.Random) -> str:
    value = parse_number(text) or 0.0
    return format_number(value + rng.choice([-1, 1]) * rng.randint(1, 9))


def corrupt_solution(solution: str, rng: random.Random) -> str | None:
    """The solution with the result of its last calculation changed; None if it has none."""
    annotations = list(_ANNOTATION_RE.finditer(solution))
    if annotations:
        last = annotations[-1]
        wrong = _wrong_number(last.group("value"), rng)
        shown = f" {wrong}" if last.group("shown") else ""
        replacement = f"<<{last.group('expr')}={wrong}>>{shown.strip()}"
        return solution[: last.start()] + replacement + solution[last.end():]
    equations = list(_EQUATION_RE.finditer(solution))
    if equations:
        last = equations[-1]
        wrong = _wrong_number(last.group("value"), rng)
        return solution[: last.start("value")] + wrong + solution[last.end("value"):]
    return None


def _wrong_answer(problem: Problem, rng: random.Random) -> str:
    if problem.answer_type == "yesno":
        return "no" if problem.answer == "yes" else "yes"
    if parse_number(problem.answer) is not None:
        return _wrong_number(problem.answer, rng)
    return f"not {problem.answer}"


def corrupt(problem: Problem, style: str, noise: float, rng: random.Random) -> Problem:
    """A copy of `problem` whose gold trace has each step corrupted with probability `noise`."""
    use_cot = style == "cot" and problem.gold_cot
    steps = problem.gold_cot.splitlines() if use_cot else [
        step.solution for step in problem.gold_steps or []]
    answer, changed = problem.answer, list(steps)
    for index, solution in enumerate(steps):
        if rng.random() >= noise:
            continue
        wrong = corrupt_solution(solution, rng)
        if wrong is None or index == len(steps) - 1:
            answer = _wrong_answer(problem, rng) if has_gold(problem) else answer
        if wrong is not None:
            changed[index] = wrong
    if use_cot:
        return problem.model_copy(update={"gold_cot": "\n".join(changed), "answer": answer})
    new_steps = [Step(subquestion=step.subquestion, solution=solution)
                 for step, solution in zip(problem.gold_steps or [], changed, strict=True)]
    return problem.model_copy(update={"gold_steps": new_steps, "answer": answer})


# ---- replay: ----


class ReplayLine(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    sample: int = 0
    completion: str | None
    usage: dict[str, int] | None = None


@dataclass
class ReplayTeacher:
    name: str
    completions: dict[tuple[str, int], ReplayLine]
    paid: bool = False
    batch_size: int = 64
    identity: dict[str, Any] = field(default_factory=dict)

    async def complete(self, requests: Sequence[Request]) -> list[Completion]:
        results = []
        for request in requests:
            line = self.completions.get((request.problem.id, request.sample))
            if line is None:
                results.append(Completion(None, error="not in the replay file", pending=True))
            else:
                results.append(Completion(line.completion or "", line.usage))
        return results

    async def aclose(self) -> None:
        return None


def read_replay(path: Path) -> dict[tuple[str, int], ReplayLine]:
    """Every line of a replay file, checked; a bad or repeated line names FILE:LINE."""
    lines: dict[tuple[str, int], ReplayLine] = {}
    for number, record in enumerate(iter_jsonl(path), start=1):
        try:
            line = ReplayLine.model_validate(record)
        except ValidationError as error:
            raise UserError(f"{path}:{_line_number(path, number)}: field "
                            f"{describe_validation(error)}") from None
        key = (line.id, line.sample)
        if key in lines:
            raise UserError(f"{path}:{_line_number(path, number)}: id {line.id!r} sample "
                            f"{line.sample} appears twice")
        lines[key] = line
    return lines


def _line_number(path: Path, record_index: int) -> int:
    """The file line of the record_index-th non-blank line (iter_jsonl skips blank lines)."""
    with path.open(encoding="utf-8") as handle:
        seen = 0
        for number, text in enumerate(handle, start=1):
            seen += bool(text.strip())
            if seen == record_index:
                return number
    return record_index


@register_teacher("replay", "FILE", "completions made elsewhere: JSONL {id, sample, completion}")
def _replay(argument: str, config: AnnotateConfig) -> Teacher:
    return ReplayTeacher(f"replay:{argument}", read_replay(Path(argument)))

"""Teacher prompts: editable few-shot files, rendered for one problem into chat messages.

A prompt file is plain text in sections; anything before the first section is a comment::

    === system ===
    You are a careful maths teacher. ...
    === user ===
    Problem: <an example problem>
    === assistant ===
    Q: <sub-question>
    A: <answer>
    Final answer: 22
    === user ===
    Facts: {{facts}}
    Problem: {{question}}
    Reference solution: {{gold}}
    === stop ===
    \\nProblem:

The last `user` section is the template; `{{question}}`, `{{facts}}` (the problem's context) and
`{{gold}}` (the gold solution or equation, only with `show_gold`) are filled in, and a template
line whose placeholders all come out empty is left out. `stop` lists stop strings, one a line,
with `\\n` for a newline; they end a completion on the completions API. For the completions
API the messages are joined into one text (`Prompt.text`).

The bundled files (`prompts/{style}_{family}.txt`) exist per style (socratic, cot) and family
(math: numeric answers; strategy: yes/no questions, with facts when given). Their examples are
written in the answer format that `render_socratic`/`render_cot` produce and `parse` reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from socratic_distill.errors import UserError
from socratic_distill.schemas import Problem, Step

PROMPT_DIR = Path(__file__).parent / "prompts"
PLACEHOLDERS = ("question", "facts", "gold")
_SECTION_RE = re.compile(r"^=== (system|user|assistant|stop) ===[ \t]*$", re.MULTILINE)
_PLACEHOLDER_RE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


@dataclass(frozen=True)
class Prompt:
    """What a teacher is asked: chat messages, and stop strings for the completions API."""

    messages: tuple[tuple[str, str], ...]  # (role, content)
    stop: tuple[str, ...] = ()

    def chat(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]

    def text(self) -> str:
        """One text for completion models: each example's answer right below its problem."""
        parts, pending = [], ""
        for role, content in self.messages:
            if role == "assistant":
                parts.append(f"{pending}\n{content}")
                pending = ""
            else:
                if pending:
                    parts.append(pending)
                pending = content
        return "\n\n".join([*parts, pending]) + "\n"


@dataclass(frozen=True)
class PromptTemplate:
    path: Path
    messages: tuple[tuple[str, str], ...]  # the last one is the user template
    stop: tuple[str, ...]

    def render(self, problem: Problem, show_gold: bool = False) -> Prompt:
        values = {
            "question": " ".join(problem.question.split()),
            "facts": " ".join((problem.context or "").split()),
            "gold": gold_hint(problem) if show_gold else "",
        }
        lines = []
        for line in self.messages[-1][1].splitlines():
            names = _PLACEHOLDER_RE.findall(line)
            if names and not any(values[name] for name in names):
                continue
            lines.append(_PLACEHOLDER_RE.sub(lambda match: values[match.group(1)], line))
        return Prompt((*self.messages[:-1], ("user", "\n".join(lines))), self.stop)


def load_template(path: str | Path) -> PromptTemplate:
    """Read and check a prompt file; errors name the file and what to fix."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: prompt file not found (`prompt`)")
    text = path.read_text(encoding="utf-8")
    headers = list(_SECTION_RE.finditer(text))
    if not headers:
        raise UserError(f"{path}: no `=== user ===` section; see the bundled {PROMPT_DIR}/*.txt")
    messages, stop = [], ()
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        body = text[header.end():end].strip("\n")
        role = header.group(1)
        if role == "stop":
            stop = tuple(line.replace("\\n", "\n") for line in body.splitlines() if line.strip())
        else:
            messages.append((role, body.strip()))
    _check(path, text, messages)
    return PromptTemplate(path, tuple(messages), stop)


def _check(path: Path, text: str, messages: list[tuple[str, str]]) -> None:
    roles = [role for role, _ in messages]
    if "system" in roles[1:]:
        raise UserError(f"{path}: `=== system ===` may only come first")
    turns = [role for role in roles if role != "system"]
    if not turns or turns[-1] != "user" or any(a == b for a, b in zip(turns, turns[1:], strict=False)):
        raise UserError(
            f"{path}: user and assistant sections must alternate and end with the user template"
        )
    for match in _PLACEHOLDER_RE.finditer(text):
        if match.group(1) not in PLACEHOLDERS:
            line = text.count("\n", 0, match.start()) + 1
            known = ", ".join(f"{{{{{name}}}}}" for name in PLACEHOLDERS)
            raise UserError(f"{path}:{line}: unknown placeholder {match.group(0)}; known: {known}")
    if "{{question}}" not in messages[-1][1].replace(" ", ""):
        raise UserError(f"{path}: the last `=== user ===` section must contain {{{{question}}}}")


def family(problem: Problem) -> str:
    """`strategy` for yes/no questions, `math` for everything else."""
    return "strategy" if problem.answer_type == "yesno" else "math"


def bundled_path(style: str, family_name: str) -> Path:
    return PROMPT_DIR / f"{style}_{family_name}.txt"


class PromptSet:
    """The template for each problem: the user's file for all, else the bundled one per family."""

    def __init__(self, style: str, prompt_file: str | Path | None = None, show_gold=False):
        self.style, self.show_gold = style, show_gold
        self._fixed = load_template(prompt_file) if prompt_file else None
        self._bundled: dict[str, PromptTemplate] = {}

    def template(self, problem: Problem) -> PromptTemplate:
        if self._fixed is not None:
            return self._fixed
        name = family(problem)
        if name not in self._bundled:
            self._bundled[name] = load_template(bundled_path(self.style, name))
        return self._bundled[name]

    def render(self, problem: Problem) -> Prompt:
        return self.template(problem).render(problem, self.show_gold)


# ---- the answer format: what the prompts ask for, the parser reads, gold/synthetic write ----


def render_socratic(steps: list[Step], final: str | None) -> str:
    lines = []
    for step in steps:
        lines += [f"Q: {' '.join(step.subquestion.split())}", f"A: {' '.join(step.solution.split())}"]
    if final:
        lines.append(f"Final answer: {final}")
    return "\n".join(lines)


def render_cot(lines: list[str], final: str | None) -> str:
    body = [line.strip() for line in lines if line.strip()]
    return "\n".join([*body, f"Final answer: {final}"] if final else body)


def gold_hint(problem: Problem) -> str:
    """The gold solution or equation to show the teacher; empty when the dataset has none."""
    if problem.gold_cot:
        return problem.gold_cot.strip()
    steps = problem.gold_steps or []
    if steps and all(step.solution.strip() for step in steps):
        return render_socratic(steps, None)
    if problem.meta.get("equation"):
        return f"Equation: {problem.meta['equation']}"
    if steps:  # StrategyQA: a decomposition without sub-answers
        return "Decomposition: " + " ".join(
            f"({index}) {step.subquestion}" for index, step in enumerate(steps, start=1)
        )
    return ""

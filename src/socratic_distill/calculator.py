"""Safe arithmetic for `<<expr=value>>` annotations, shared by the teacher's checks and inference.

`safe_eval` parses with a small recursive-descent grammar of its own, so no name, attribute,
call or subscript can ever be reached, and it never uses eval or exec:

    expr   := term (('+' | '-') term)*
    term   := factor (('*' | 'x' | '×' | '/' | '÷') factor)*
    factor := ('+' | '-') factor | power
    power  := atom (('**' | '^') factor)?
    atom   := NUMBER ['%'] | '(' expr ')'

Numbers may carry thousands separators (`1,200`), decimals, a leading `$`, and a trailing `%`
(divides by 100). Input length, nesting, magnitude and exponents are bounded, so hostile input
such as `9**9**9` returns None at once instead of hanging.

`calculator_completion` is the calculator of inference: what it writes into a student's text
when the text opens an annotation or an answer. GSM8K's solutions write each calculation three
times (`48/2 = <<48/2=24>>24`), and then once more as the step's answer (`#### 24`); the student
writes the first, the calculator the others.
"""

from __future__ import annotations

import math
import re

# The calculator annotations of GSM8K's solutions, for every module that reads or writes them.
# A complete annotation `<<expr=value>>`: the expression, then the value written after `=`.
ANNOTATION_RE = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
# Anything between `<<` and `>>`, well-formed or not: its whole content.
ANY_ANNOTATION_RE = re.compile(r"<<([^<>]*)>>")
# An annotation open at the end of a text, `<<expr=`, waiting for the calculator's value.
OPEN_ANNOTATION_RE = re.compile(r"<<([^<>=\n]*)=$")
# GSM8K's mark of an answer, `#### 24`.
ANSWER_MARK = "####"
# An annotation opened right after the expression it will repeat: `48/2 = <<`.
_EXPRESSION_OPENS_RE = re.compile(r"([\d.,+\-*/×÷()%$ ]+)= ?<<$")
_OPERATION_RE = re.compile(r"[\d)]\s*[-+*/×÷]\s*[\d($]")
MAX_LENGTH = 200
MAX_MAGNITUDE = 1e15
MAX_EXPONENT = 64
MAX_DEPTH = 32

_TOKEN_RE = re.compile(
    r"\s*(?:(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d*)?|\.\d+)|(?P<op>\*\*|[-+*/x×÷^()%$]))"
)


class _Refused(Exception):
    """Anything outside the grammar or the bounds."""


def _tokenize(expr: str) -> list[str]:
    tokens, position = [], 0
    stripped = expr.rstrip()
    while position < len(stripped):
        match = _TOKEN_RE.match(stripped, position)
        if not match:
            raise _Refused
        token = match.group("number") or match.group("op")
        if token != "$":  # currency signs carry no arithmetic
            tokens.append(token.replace(",", "") if match.group("number") else token)
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]):
        self.tokens, self.position, self.depth = tokens, 0, 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise _Refused
        self.position += 1
        return token

    def expr(self) -> float:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = _checked(value + self.term() if self.take() == "+" else value - self.term())
        return value

    def term(self) -> float:
        value = self.factor()
        while self.peek() in ("*", "x", "×", "/", "÷"):
            operator, right = self.take(), self.factor()
            if operator in ("/", "÷"):
                if right == 0:
                    raise _Refused
                value = _checked(value / right)
            else:
                value = _checked(value * right)
        return value

    def factor(self) -> float:
        if self.peek() in ("+", "-"):
            sign = -1.0 if self.take() == "-" else 1.0
            return sign * self.nested(self.factor)
        return self.power()

    def power(self) -> float:
        base = self.atom()
        if self.peek() in ("**", "^"):
            self.take()
            exponent = self.nested(self.factor)
            if abs(exponent) > MAX_EXPONENT or (base == 0 and exponent < 0):
                raise _Refused
            if base < 0 and exponent != int(exponent):
                raise _Refused
            if base != 0 and exponent * math.log10(abs(base)) > math.log10(MAX_MAGNITUDE):
                raise _Refused
            return _checked(base**exponent)
        return base

    def atom(self) -> float:
        token = self.take()
        if token == "(":
            value = self.nested(self.expr)
            if self.take() != ")":
                raise _Refused
        elif token[0].isdigit() or token[0] == ".":
            value = _checked(float(token))
        else:
            raise _Refused
        if self.peek() == "%":
            self.take()
            value /= 100
        return value

    def nested(self, rule) -> float:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Refused
        try:
            return rule()
        finally:
            self.depth -= 1


def _checked(value: float) -> float:
    if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
        raise _Refused
    return value


def safe_eval(expr: str) -> float | None:
    """The value of an arithmetic expression, or None for anything else. Never raises."""
    if not isinstance(expr, str) or not expr.strip() or len(expr) > MAX_LENGTH:
        return None
    try:
        parser = _Parser(_tokenize(expr))
        value = parser.expr()
        if parser.peek() is not None:
            return None
        return value
    except (_Refused, ValueError, OverflowError, ZeroDivisionError, RecursionError):
        return None


def format_number(value: float) -> str:
    """Canonical text of a number: integers without `.0`, others without trailing zeros."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if abs(value) < 1e-4:
        return repr(value)
    # Ten significant digits can round to a whole number (123456789012.5 -> 1.23456789e+11);
    # write that the way the whole number is written, so normalising twice changes nothing.
    text = f"{value:.10g}"
    rounded = float(text)
    if not math.isfinite(rounded):  # 1.7976931348e308 rounds past the largest float
        return repr(value)
    return str(int(rounded)) if rounded.is_integer() and abs(rounded) < 1e15 else text


def calculator_completion(text: str) -> str | None:
    """What the calculator writes after `text`, or None when `text` opens no annotation.

    - `... <<EXPR=`: the value and its copy, `VALUE>>VALUE`.
    - `... EXPR = <<`: the annotation of EXPR, `EXPR=VALUE>>VALUE`, so the student's
      expression is not copied a second time by the student (a copy it often got wrong).
    - `... ####`: ` VALUE`, the value of the last annotation on the line, or on the line
      before when the mark opens a line (CoT's answer line): the step's answer is what it
      computed last.
    EXPR must evaluate (and in the second form hold an operation), and an answer needs an
    annotation to copy; otherwise None, and the student goes on writing.
    """
    if text.endswith(ANSWER_MARK):
        return _answer_completion(text[: -len(ANSWER_MARK)])
    tail = text[-(MAX_LENGTH + 8) :]
    if tail.endswith("="):
        match = OPEN_ANNOTATION_RE.search(tail)
        value = safe_eval(match.group(1)) if match else None
        return None if value is None else f"{format_number(value)}>>{format_number(value)}"
    match = _EXPRESSION_OPENS_RE.search(tail) if tail.endswith("<<") else None
    if not match:
        return None
    # `$` and thousands separators are prose; GSM8K's annotations carry neither.
    expression = match.group(1).strip().lstrip(".,%)*/×÷+ ")
    expression = re.sub(r"(?<=\d),(?=\d{3})", "", expression.replace("$", "")).replace(" ", "")
    value = safe_eval(expression) if _OPERATION_RE.search(expression) else None
    if value is None:
        return None
    return f"{expression}={format_number(value)}>>{format_number(value)}"


def _answer_completion(before_mark: str) -> str | None:
    lines = before_mark.split("\n")
    line = lines[-1] if lines[-1].strip() or len(lines) < 2 else lines[-2]
    annotations = ANNOTATION_RE.findall(line)
    value = safe_eval(annotations[-1][1]) if annotations else None
    # GSM8K writes some values with cents (`<<18*.5=9.00>>9.00 #### 9`); the answer is canonical.
    return None if value is None else f" {format_number(value)}"

"""The safe calculator: right values for arithmetic, None for everything else, never a hang."""

import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socratic_distill.calculator import calculator_completion, safe_eval

VALUES = [
    ("48/2", 24),
    ("48+24", 72),
    ("0.2*50", 10),
    ("1,200 * 3", 3600),
    ("$12 x 5", 60),
    ("3 × 4", 12),
    ("9 ÷ 3", 3),
    ("(2+3)*4", 20),
    ("-3 - -2", -1),
    ("2**10", 1024),
    ("2^3", 8),
    ("10% * 50", 5),
    ("3.5 + .5", 4),
    ("100 - 20%*100", 80),
    ("((((7))))", 7),
    ("7.", 7),
]

HOSTILE = [
    "9**9**9",
    "9**999",
    "10**100",
    "2**-99999",
    "(-8)**0.5",
    "0**-1",
    "__import__('os').system('true')",
    "open('x')",
    "a+1",
    "[1][0]",
    "(1).real",
    "1 if 1 else 2",
    "lambda: 1",
    "1e308*10",
    "1/0",
    "5 % 3",
    "",
    "   ",
    "(1+2",
    "1+2)",
    "1 2",
    "9" * 300,
    "(" * 100 + "1" + ")" * 100,
    "1" + "+1" * 150,
    "99999999999999999",
    "1,2",
    None,
    12,
]


@pytest.mark.parametrize("expr, expected", VALUES)
def test_arithmetic(expr, expected):
    assert safe_eval(expr) == pytest.approx(expected)


@pytest.mark.parametrize("expr", HOSTILE)
def test_refuses_hostile_input_at_once(expr):
    start = time.perf_counter()
    assert safe_eval(expr) is None
    assert time.perf_counter() - start < 1.0  # bounded work, not a speed target


@given(st.text(max_size=300))
@settings(max_examples=500, deadline=None)
def test_any_text_gives_a_float_or_none(text):
    value = safe_eval(text)
    assert value is None or (isinstance(value, float) and math.isfinite(value))


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.sampled_from("+-*"))
def test_matches_python_arithmetic_on_integers(a, b, op):
    expected = {"+": a + b, "-": a - b, "*": a * b}[op]
    assert safe_eval(f"{a} {op} {b}") == pytest.approx(expected)


@given(st.recursive(
    st.integers(0, 99).map(str),
    lambda inner: st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "**"]), inner).map(
        lambda t: f"({t[0]}{t[1]}{t[2]})"),
    max_leaves=20,
))
@settings(max_examples=300, deadline=None)
def test_nested_expressions_never_raise_or_hang(expr):
    start = time.perf_counter()
    value = safe_eval(expr)
    assert value is None or math.isfinite(value)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("Tom has <<12*3=", "36>>36"),
        ("<<48/2=", "24>>24"),
        ("<<1.5*3=", "4.5>>4.5"),
        ("Sam has 12+14 = <<", "12+14=26>>26"),
        ("Sam has 12+14 =<<", "12+14=26>>26"),
        ("It costs $1,200 * 2 = <<", "1200*2=2400>>2400"),
        ("Then. 5*3 = <<", "5*3=15>>15"),
        ("He has (3+4)*2 = <<", "(3+4)*2=14>>14"),
        ("Theo has 20+20*25/100 = <<", "20+20*25/100=25>>25"),
        # The answer mark repeats the line's last result, canonically written.
        ("A: 2+3 = <<2+3=5>>5 and <<5*2=10.00>>10.00 apples ####", " 10"),
        # CoT's answer line: the result of the line before.
        ("Tom has <<4-1=3>>3.\nHe eats <<3/2=1.5>>1.5.\n####", " 1.5"),
    ],
)
def test_calculator_completion_writes_value_and_copy(text, written):
    assert calculator_completion(text) == written


@pytest.mark.parametrize(
    "text",
    ["<<2/0=", "<<2+3=5>> and 4=", "<<2+3= ", "2+3=", "He has 24 = <<", "He says <<",
     "2/0 = <<", "x" * 500 + "<<",
     # an answer mark with no result on its line (the result before is another step's)
     "A: <<2+3=5>>5 #### 5\nQ: Why?\nA: Because ####", "Question: How many?\n####",
     "Tom has <<4-1=3>>3.\nHe eats some.\n####"],
)
def test_calculator_completion_leaves_other_texts_alone(text):
    assert calculator_completion(text) is None

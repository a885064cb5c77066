"""bench/quote_copies.py: a quote counts as verbatim when it is a sentence of the problem, and as
the right fact when it is the one the gold step at its position quotes; bad input is one line
with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from socratic_distill.data.registry import load_problems
from socratic_distill.data.synthetic import quoted_fact
from socratic_distill.jsonl import write_jsonl
from socratic_distill.schemas import Prediction, Step

ROOT = Path(__file__).resolve().parents[2]
OPTIONS = {"min_steps": 2, "max_steps": 3, "max_number": 20, "distractors": 0, "quote_facts": True}
sys.path.insert(0, str(ROOT / "bench"))
import quote_copies  # noqa: E402


def test_quotes_are_counted_as_copies_and_as_the_right_fact():
    problem = load_problems("synthetic:test", limit=1, options=OPTIONS)[0]
    first, second = problem.gold_steps[:2]
    facts = [quoted_fact(first.subquestion), quoted_fact(second.subquestion)]
    assert all(facts) and facts[0] != facts[1]
    asks = first.subquestion[len(facts[0]) + 1:]
    steps = [
        Step(subquestion=f"{facts[1]} {asks}", solution=""),  # verbatim, but the second step's
        Step(subquestion=f"{facts[1]} {asks}", solution=""),  # verbatim and the right one
        Step(subquestion=f"Nobody collected 3 rocks. {asks}", solution=""),  # made up
        Step(subquestion=asks, solution=""),  # no quote: not counted
    ]
    copies = quote_copies.count_copies([problem], [Prediction(id=problem.id, steps=steps)], "p")
    assert (copies.quotes, copies.verbatim, copies.right_fact) == (3, 2, 1)
    assert "| 3 | 2 (66.7%) | 1 (33.3%) |" in copies.row("p")


def test_bad_input_is_one_line_with_exit_2(tmp_path):
    predictions = tmp_path / "p.jsonl"
    write_jsonl(predictions, [Prediction(id="elsewhere", steps=[])])
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "quote_copies.py"), str(predictions),
         "-d", "synthetic:test", "--limit", "5"], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "p.jsonl:1: unknown problem" in result.stderr

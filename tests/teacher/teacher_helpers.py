"""Problems and a solving responder shared by the teacher tests."""

from __future__ import annotations

from socratic_distill.schemas import Problem, Step


def sum_problem(index: int) -> Problem:
    """`What is 2 + i?` with an exact two-step gold trace."""
    total = 2 + index
    return Problem(
        id=f"p{index}",
        question=f"Tom has 2 apples and buys {index} more, then doubles them. How many?",
        answer=str(2 * total),
        gold_steps=[
            Step(subquestion="How many apples after buying?",
                 solution=f"2 + {index} = <<2+{index}={total}>>{total} apples.", answer=str(total)),
            Step(subquestion="How many after doubling?",
                 solution=f"{total} * 2 = <<{total}*2={2 * total}>>{2 * total} apples.",
                 answer=str(2 * total)),
        ],
        gold_cot=f"2 + {index} = <<2+{index}={total}>>{total} apples.\n"
                 f"{total} * 2 = <<{total}*2={2 * total}>>{2 * total} apples.",
    )


def right_answer(prompt: str) -> str:
    """A responder that solves the sum_problem in the prompt's last `Problem:` line."""
    line = [row for row in prompt.splitlines() if row.startswith("Problem:")][-1]
    index = int(line.split("buys ")[1].split()[0])
    total = 2 + index
    return (f"Q: How many apples after buying?\nA: 2 + {index} = <<2+{index}={total}>>{total}.\n"
            f"Q: How many after doubling?\nA: {total} * 2 = <<{total}*2={2 * total}>>{2 * total}.\n"
            f"Final answer: {2 * total}")

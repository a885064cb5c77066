"""The progress line and the end summary's text."""

from __future__ import annotations

import io
from pathlib import Path

from socratic_distill.teacher.progress import Progress
from socratic_distill.teacher.summary import Summary


def test_progress_line_has_rate_eta_kept_and_tokens():
    stream = io.StringIO()
    bar = Progress(4, stream, log_every=0.0)
    bar.start -= 2.0  # two seconds in
    bar.update(kept=True, tokens=1500)
    bar.update(kept=False, tokens=500)
    line = stream.getvalue().splitlines()[-1]
    assert line.startswith("annotate [##########..........] 2/4 ")
    assert "1.0/s" in line and "ETA 0:00:02" in line and "kept 50%" in line
    assert line.endswith("tokens 2.0k")


def test_progress_disabled_writes_nothing():
    stream = io.StringIO()
    bar = Progress(3, stream, enabled=False)
    bar.update(kept=True)
    bar.close()
    assert stream.getvalue() == ""


def test_summary_text():
    summary = Summary(out=Path("t.jsonl"), teacher="openai:m", style="socratic", problems=3,
                      pairs=6, done=5, resumed=2, written=3, kept=3,
                      rejected={"wrong answer": 1, "arithmetic": 1}, problems_with_kept=2,
                      no_gold=0, requests=3, cache_hits=1, prompt_tokens=900,
                      completion_tokens=120, cost=0.0123, not_done={"budget: x": 1})
    text = summary.format()
    assert "5/6 pairs in t.jsonl (3 new, 2 from an earlier run)" in text
    assert "kept 3 (60.0%); rejected 2: wrong answer 1, arithmetic 1" in text
    assert "problems with at least one kept sample: 2/3" in text
    assert "cost $0.0123" in text and "1 pairs not done: budget: x" in text
    assert not summary.complete

"""The end-of-run summary of an annotation file: kept, rejected by reason, coverage, spend."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from socratic_distill.schemas import Annotation, Problem
from socratic_distill.teacher.verify import has_gold

if TYPE_CHECKING:
    from socratic_distill.teacher.annotate import RunStats
    from socratic_distill.teacher.config import AnnotateConfig


@dataclass
class Summary:
    out: Path
    teacher: str
    style: str
    problems: int
    pairs: int  # problems x samples
    done: int  # pairs with a record in the file
    resumed: int  # records already in the file when the run started
    written: int  # records this run added
    kept: int
    rejected: dict[str, int]  # by reason category (the text before the first colon)
    problems_with_kept: int
    no_gold: int  # problems without a gold answer: `correct` is null for them
    requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    not_done: dict[str, int] = field(default_factory=dict)  # pairs left, by reason
    stopped: str | None = None
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return self.done == self.pairs

    def format(self) -> str:
        lines = [f"annotate: {self.done}/{self.pairs} pairs in {self.out} ({self.written} new, "
                 f"{self.resumed} from an earlier run) by {self.teacher}, {self.style}, "
                 f"{self.seconds:.1f}s"]
        share = f" ({100 * self.kept / self.done:.1f}%)" if self.done else ""
        rejected = ", ".join(f"{reason} {count}" for reason, count in
                             sorted(self.rejected.items(), key=lambda item: -item[1]))
        lines.append(f"kept {self.kept}{share}; rejected {sum(self.rejected.values())}"
                     + (f": {rejected}" if rejected else ""))
        lines.append(f"problems with at least one kept sample: {self.problems_with_kept}/"
                     f"{self.problems}")
        spend = (f"requests {self.requests} (cache hits {self.cache_hits}), tokens "
                 f"{self.prompt_tokens} prompt + {self.completion_tokens} completion")
        lines.append(spend + (f", cost ${self.cost:.4f}" if self.cost is not None else ""))
        if self.no_gold:
            lines.append(f"{self.no_gold} problems have no gold answer: their samples are not "
                         "checked against one (correct: null), only their arithmetic")
        for reason, count in self.not_done.items():
            lines.append(f"{count} pairs not done: {reason}; rerun the same command to continue")
        return "\n".join(lines)


def summarize(problems: Sequence[Problem], config: AnnotateConfig, records: list[Annotation],
              stats: RunStats, out: Path, teacher: str, *, resumed: int,
              seconds: float) -> Summary:
    wanted = {problem.id for problem in problems}
    mine = [r for r in records if r.id in wanted and r.sample < config.samples]
    kept = [r for r in mine if r.reject_reason is None]
    rejected = Counter(r.reject_reason.split(":")[0] for r in mine if r.reject_reason)
    return Summary(
        out=out, teacher=teacher, style=config.style, problems=len(problems),
        pairs=len(problems) * config.samples, done=len(mine), resumed=resumed,
        written=stats.written, kept=len(kept), rejected=dict(rejected),
        problems_with_kept=len({r.id for r in kept}),
        no_gold=sum(not has_gold(problem) for problem in problems),
        requests=stats.requests, cache_hits=stats.cache_hits,
        prompt_tokens=stats.prompt_tokens, completion_tokens=stats.completion_tokens,
        cost=stats.cost if config.prices is not None else None,
        not_done=dict(stats.not_done), stopped=stats.stopped, seconds=seconds,
    )

"""Run `annotate` in its own process, for the tests that kill it with SIGKILL.

    python run_annotate.py PROBLEMS.jsonl CONFIG_JSON OUT.jsonl
"""

from __future__ import annotations

import json
import sys

from socratic_distill.jsonl import read_jsonl
from socratic_distill.schemas import Problem
from socratic_distill.teacher import annotate, make_config


def main() -> None:
    problems_path, config_json, out = sys.argv[1:4]
    problems = read_jsonl(problems_path, Problem)
    summary = annotate(problems, make_config(**json.loads(config_json)), out, progress=False)
    print(json.dumps({"written": summary.written, "resumed": summary.resumed,
                      "requests": summary.requests, "cache_hits": summary.cache_hits,
                      "complete": summary.complete}))


if __name__ == "__main__":
    main()

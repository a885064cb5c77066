"""Teacher annotation throughput against the loopback test server, by concurrency.

    .venv/bin/python bench/bench_teacher.py [--latency 0.1] [--levels 1,8,32,64]

The OpenAI-compatible test server (tests/teacher/fake_openai.py) runs as its own process and
answers every request after `latency` seconds. For each concurrency level, `annotate` runs the
`openai:` teacher over fresh problems with a fresh cache (so every pair is a paid request that
is parsed, checked, cached and written), and its throughput is compared with the ideal
concurrency / latency. The target is >= 80% up to 64 requests in flight. Prints a markdown table,
with the CPU time that the client (this process) and the server spent per request: on a busy
machine they explain a shortfall (the load average is printed too).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from socratic_distill.schemas import Problem
from socratic_distill.teacher import annotate, make_config

SERVER = Path(__file__).resolve().parents[1] / "tests" / "teacher" / "fake_openai.py"


def start_server(latency: float, seconds: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--latency", str(latency), "--seconds", str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )
    line = process.stdout.readline()
    if not line.startswith("PORT "):
        process.kill()
        raise SystemExit(f"the test server did not start: {line!r}")
    return process, f"http://127.0.0.1:{line.split()[1]}/v1"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc); 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_level(base_url: str, concurrency: int, pairs: int, workdir: Path) -> float:
    problems = [Problem(id=f"c{concurrency}-{i}", question=f"What is 2 + {i}?", answer="5")
                for i in range(pairs)]
    config = make_config(teacher="openai:bench", base_url=base_url, concurrency=concurrency,
                         cache=workdir / f"cache-{concurrency}.sqlite", timeout=30)
    start = time.perf_counter()
    summary = annotate(problems, config, workdir / f"out-{concurrency}.jsonl", progress=False)
    seconds = time.perf_counter() - start
    assert summary.done == pairs and summary.requests == pairs, summary.format()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1, help="Server latency, seconds.")
    parser.add_argument("--levels", default="1,8,32,64", help="Concurrency levels.")
    parser.add_argument("--seconds", type=float, default=3.0, help="Target seconds per level.")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    process, base_url = start_server(args.latency, seconds=120 + 10 * len(levels))
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for concurrency in levels:
                ideal = concurrency / args.latency
                pairs = max(20, int(ideal * args.seconds))
                client, server = time.process_time(), cpu_seconds(process.pid)
                seconds = run_level(base_url, concurrency, pairs, Path(tmp))
                client = (time.process_time() - client) / pairs * 1000
                server = (cpu_seconds(process.pid) - server) / pairs * 1000
                rate = pairs / seconds
                rows.append((concurrency, pairs, seconds, rate, ideal, rate / ideal, client, server))
    finally:
        process.terminate()
        process.wait(timeout=10)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(f"Teacher throughput, test server latency {args.latency * 1000:.0f} ms, fresh cache, "
          f"{os.cpu_count()} CPUs, load average {load}\n")
    print("| concurrency | requests | seconds | req/s | ideal req/s | efficiency "
          "| client CPU ms/req | server CPU ms/req |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for concurrency, pairs, seconds, rate, ideal, share, client, server in rows:
        print(f"| {concurrency} | {pairs} | {seconds:.2f} | {rate:.1f} | {ideal:.0f} "
              f"| {share:.0%} | {client:.2f} | {server:.2f} |")


if __name__ == "__main__":
    main()

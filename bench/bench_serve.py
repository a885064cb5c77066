"""Serving: latency and throughput with continuous batching on vs off, concurrent clients.

    .venv/bin/python bench/bench_serve.py [--clients 32] [--requests 96] [--runs 3] [--cache DIR]

A small scratch GPT-2 (2 layers, width 128; `bench_solve.py` trains a 4-layer one the same
way), trained briefly on synthetic unified Socratic texts, serves as both decomposer and solver
(the tasks share one text), so dialogues have real, varied lengths and end with `Q: [END]`.
`--base smollm2` fine-tunes the deployment-size SmolLM2-135M the same way instead.
The app runs on uvicorn on a free loopback port in this process; `--clients` concurrent clients
send `--requests` POST /v1/solve requests in all (synthetic:test problems, greedy, calculator
on), each client one request at a time. Batching off serves one request at a time; on, every
request in the batch shares each decomposer and solver call. Answers must be identical either
way (asserted). Printed: a markdown table of p50/p99 latency (seconds per request, queueing
included) and throughput (requests/s), and the speed-up (target >= 4x at 32 clients).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import httpx
import torch
from bench_models import unified_student

from socratic_distill.data.registry import load_problems
from socratic_distill.infer.generate import hf_generator
from socratic_distill.serve.app import create_app
from socratic_distill.serve.background import BackgroundServer
from socratic_distill.serve.config import ServeConfig


async def load(url: str, bodies: list[dict], clients: int, limit: float):
    """(latencies, statuses, answers, ends) of every request; `clients` in flight at once;
    `ends`: when each answer came, in seconds from the start."""
    begin = time.perf_counter()
    ends: list[float | None] = [None] * len(bodies)
    latencies: list[float | None] = [None] * len(bodies)
    statuses: list[int | None] = [None] * len(bodies)
    answers: list[str | None] = [None] * len(bodies)
    todo = list(range(len(bodies)))[::-1]
    connections = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=limit, limits=connections) as client:
        async def worker() -> None:
            while todo:
                index = todo.pop()
                start = time.perf_counter()
                response = await client.post(f"{url}/v1/solve", json=bodies[index])
                latencies[index] = time.perf_counter() - start
                ends[index] = time.perf_counter() - begin
                statuses[index] = response.status_code
                if response.status_code == 200:
                    answers[index] = response.json()["text"]

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(clients))), limit)
    return latencies, statuses, answers, ends


def steady_rate(ends: list[float], statuses: list[int], clients: int) -> float | None:
    """Requests answered (200) per second while all `clients` had one in flight, start-up
    excluded: between the `clients`-th answer and the last one after which every client still
    found a request to send (the (n - clients + 1)-th). None with too few requests for it."""
    order = sorted(range(len(ends)), key=lambda i: ends[i])
    first, last = clients - 1, len(ends) - clients
    if last - first < clients:
        return None
    answered = sum(statuses[i] == 200 for i in order[first + 1:last + 1])
    return answered / (ends[order[last]] - ends[order[first]])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def run(fn, bodies: list[dict], clients: int, batching: bool, limit: float,
        decode_batch: int | None) -> dict:
    config = ServeConfig(batching=batching, max_batch_rows=64, queue_size=len(bodies),
                         timeout=limit, max_new_tokens=64, max_steps=6,
                         decode_batch_size=decode_batch)
    with BackgroundServer(create_app({"qg": fn, "qa": fn}, config)) as server:
        url = server.url
        httpx.post(f"{url}/v1/solve", json=bodies[0], timeout=limit)  # warm-up
        start = time.perf_counter()
        latencies, statuses, answers, ends = asyncio.run(load(url, bodies, clients, limit))
        wall = time.perf_counter() - start
        rows = httpx.get(f"{url}/metrics").text
    ok = [lat for lat, status in zip(latencies, statuses, strict=True) if status == 200]
    calls = next(float(line.split()[-1]) for line in rows.splitlines()
                 if line.startswith("socratic_distill_batch_rows_count"))
    total_rows = next(float(line.split()[-1]) for line in rows.splitlines()
                      if line.startswith("socratic_distill_batch_rows_sum"))
    other = len(statuses) - len(ok) - statuses.count(503)  # errors such as 422, and lost requests
    return {"batching": batching, "answered": len(ok), "refused": statuses.count(503), "other": other,
            "wall": wall, "rate": len(ok) / wall, "p50": statistics.median(ok),
            "p99": percentile(ok, 99), "answers": answers, "rows": total_rows / max(calls, 1),
            "steady": steady_rate(ends, statuses, clients)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--requests", type=int, default=96, help="requests in all")
    parser.add_argument("--train-steps", type=int, default=1000, help="training steps (batch 16)")
    parser.add_argument("--decode-batch", type=int, default=None,
                        help="rows per decoding chunk (ServeConfig.decode_batch_size)")
    parser.add_argument("--cache", type=Path, default=None, help="keep the trained model here")
    parser.add_argument("--base", default=None, help="fine-tune this pretrained model instead "
                        "of a scratch one (`smollm2`: SmolLM2-135M, the deployment size)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="default: 3e-3 from scratch, 1e-4 fine-tuning `--base`")
    parser.add_argument("--train-batch", type=int, default=16, help="training batch size")
    parser.add_argument("--layers", type=int, default=2, help="scratch model layers")
    parser.add_argument("--width", type=int, default=128, help="scratch model width")
    parser.add_argument("--limit", type=float, default=600, help="seconds per run, at most")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steadiest on "
                        "a shared CPU, where busy cores stall multi-threaded kernels)")
    parser.add_argument("--runs", type=int, default=1, help="runs per mode, alternating; the "
                        "median is shown")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print(f"training the model ({args.train_steps} steps) unless --cache holds it...", flush=True)
    learning_rate = args.learning_rate or (1e-4 if args.base else 3e-3)
    model, tokenizer = unified_student(
        args.cache, layers=args.layers, width=args.width, steps=args.train_steps, problems=2000,
        learning_rate=learning_rate, base=args.base, batch_size=args.train_batch,
    )
    size = args.base or f"{args.layers}x{args.width}"
    fn = hf_generator(model, tokenizer)
    problems = load_problems("synthetic:test", limit=args.requests)
    bodies = [{"question": problems[i % len(problems)].question, "max_steps": 6}
              for i in range(args.requests)]
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for attempt in range(args.runs):
        for batching in (False, True):
            print(f"run {attempt + 1}/{args.runs}, batching {'on' if batching else 'off'}: "
                  f"{args.requests} requests, {args.clients} clients...", flush=True)
            runs[batching].append(run(fn, bodies, args.clients, batching, args.limit,
                                      args.decode_batch))
    results = [sorted(runs[mode], key=lambda r: r["rate"])[len(runs[mode]) // 2]
               for mode in (False, True)]
    off, on = results
    assert all(r["answers"] == off["answers"] for r in runs[False] + runs[True]), \
        "batching changed some answers"
    steady = {mode: statistics.median(r["steady"] for r in runs[mode])
              if all(r["steady"] for r in runs[mode]) else None for mode in (False, True)}
    print("\n| batching | clients | answered | 503 | other | throughput (req/s) | p50 latency (s) "
          "| p99 latency (s) | rows per call | speed-up | steady req/s | steady speed-up |\n|---|"
          + "---:|" * 11)
    for result in results:
        mode = result["batching"]
        rate = f"{steady[mode]:.2f} | {steady[mode] / steady[False]:.2f}x" if steady[False] \
            else "- | -"
        print(f"| {'on' if mode else 'off'} | {args.clients} | {result['answered']}"
              f" | {result['refused']} | {result['other']} | {result['rate']:.2f} | {result['p50']:.2f} | "
              f"{result['p99']:.2f} | {result['rows']:.1f} | {result['rate'] / off['rate']:.2f}x | {rate} |")
    spread = "; ".join(
        f"{'on' if mode else 'off'} {min(r['rate'] for r in runs[mode]):.2f}-"
        f"{max(r['rate'] for r in runs[mode]):.2f} req/s" for mode in (False, True))
    print(f"\nruns (slowest-fastest): {spread}")
    if steady[False]:
        print(f"steady: while all {args.clients} clients had a request in flight, from the "
              f"{args.clients}th answer to the {args.requests - args.clients + 1}th (median of "
              f"{args.runs}); the whole run also counts the closing phase, when fewer clients "
              "are left")
    print(f"throughput with batching: {on['rate'] / off['rate']:.2f}x (target >= 4x); answers "
          f"identical on and off; {args.requests} synthetic:test problems, greedy, max 6 steps, "
          f"model {size}, {torch.get_num_threads()} torch threads, median of "
          f"{args.runs} runs")


if __name__ == "__main__":
    main()

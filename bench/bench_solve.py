"""Socratic solving: batched vs one problem at a time, and iterative vs unified generation.

    .venv/bin/python bench/bench_solve.py [--problems 64] [--train-steps 300] [--runs 3]
        [--threads 1] [--layers 4 --width 256] [--cache DIR]

A scratch GPT-2 (4 layers, width 256) is trained briefly on synthetic unified Socratic texts
(`bench_models.py`). The same model serves as decomposer, solver and unified student, so greedy
Socratic solving and greedy unified generation write the same steps and their costs compare
directly.

1. Socratic solving batched (batch 32) vs naive (`generate_naive`), each with and without the
   prefix cache: the same greedy output, asserted. With `--threads` above 1 the naive baseline
   also runs on one thread, and the faster of the two is the baseline: one row at a time
   gains little from a second core, and may lose.
2. Socratic (QG and QA in turns, each turn one batched call per model) vs unified generation of
   the steps in one pass, both batched: wall time, tokens, and how often the steps agree.

Figures are problems per second of this process's CPU time (`--clock wall` for wall time,
which several threads need), the median of `--runs` interleaved runs; a markdown table is
printed. Torch runs on one thread by default: on a shared machine more threads oversubscribe
the cores and wall timings mean little. A CPU also bounds what batching can gain (the last
line measures the bound); a GPU, where a forward costs about the same for 1 or 32 rows, gains
far more.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from bench_models import unified_student

from socratic_distill.data.registry import load_problems
from socratic_distill.infer import kv
from socratic_distill.infer.config import make_config
from socratic_distill.infer.generate import hf_generator
from socratic_distill.infer.solvers import solve


def measure(variants, problems, runs: int, clock):
    """Each variant's median seconds and last predictions; runs interleave, so that a load
    from elsewhere on the machine falls on every variant alike."""
    seconds: dict[str, list[float]] = {variant[0]: [] for variant in variants}
    outputs = {}
    threads = torch.get_num_threads()
    for run in range(runs):
        for name, roles, config, _, variant_threads in variants:
            print(f"  run {run + 1}/{runs}: {name}", flush=True)
            torch.set_num_threads(variant_threads or threads)
            start = clock()
            outputs[name] = solve(problems, roles, config)
            seconds[name].append(clock() - start)
    torch.set_num_threads(threads)
    return {name: statistics.median(values) for name, values in seconds.items()}, outputs


def forward_cost(model, rows: int, clock, context: int = 200, steps: int = 20) -> float:
    """Milliseconds per decoding step of `rows` rows against a `context`-token KV cache."""
    ids = torch.zeros((rows, context), dtype=torch.long)
    mask = torch.ones((rows, context + steps), dtype=torch.long)
    with torch.inference_mode():
        cache = kv.new_cache(model)  # the decoding loop's own cache
        model(input_ids=ids, attention_mask=mask[:, :context], cache=cache, use_cache=True)
        start = clock()
        for step in range(steps):
            positions = torch.full((rows, 1), context + step)
            model(input_ids=ids[:, :1], attention_mask=mask[:, :context + step + 1],
                  position_ids=positions, cache=cache, use_cache=True, logits_to_keep=1)
    return (clock() - start) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=64, help="synthetic:test problems")
    parser.add_argument("--train-steps", type=int, default=300,
                        help="training steps (batch 16); 0 keeps random weights")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is shown")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                        help="cpu: this process's CPU time (steady on a shared machine)")
    parser.add_argument("--layers", type=int, default=4, help="scratch model layers")
    parser.add_argument("--width", type=int, default=256, help="scratch model width")
    parser.add_argument("--cache", type=Path, default=None, help="keep the trained model here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print(f"training the scratch model ({args.train_steps} steps)...", flush=True)
    model, tokenizer = unified_student(
        args.cache, layers=args.layers, width=args.width, steps=args.train_steps, problems=3000,
        learning_rate=2e-3,
    )
    problems = load_problems("synthetic:test", limit=args.problems)
    n = len(problems)
    batched, naive = hf_generator(model, tokenizer), hf_generator(model, tokenizer, naive=True)
    config = make_config(method="socratic", batch_size=32, max_steps=6, max_new_tokens=64)
    plain = config.model_copy(update={"prefix_cache": False})
    unified = make_config(method="unified", batch_size=32, max_new_tokens=6 * 2 * 64 + 8)
    both = {"naive": {"qg": naive, "qa": naive}, "batched": {"qg": batched, "qa": batched}}
    baseline, cached, plain_batched, default, one_pass = (
        "socratic, naive, no prefix cache", "socratic, naive, prefix cache",
        "socratic, batched, no prefix cache", "socratic, batched, prefix cache", "unified, batched")
    variants = [  # name, students, config, note, threads (None: --threads)
        (baseline, both["naive"], plain, "the baseline", None),
        (cached, both["naive"], config, "one problem at a time", None),
        (plain_batched, both["batched"], plain, "re-reads every prompt", None),
        (default, both["batched"], config, "the default", None),
        (one_pass, {"model": batched}, unified, "one pass", None),
    ]
    if args.threads > 1:
        variants.insert(1, (f"{baseline}, 1 thread", both["naive"], plain,
                            "the baseline on one core", 1))
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    seconds, outputs = measure(variants, problems, args.runs, clock)
    names = [variant[0] for variant in variants]
    texts = [[p.prediction for p in outputs[name]] for name in names if name.startswith("socratic")]
    assert all(t == texts[0] for t in texts), "greedy outputs differ"
    same = sum(
        [(s.subquestion, s.solution) for s in (u.steps or [])]
        == [(s.subquestion, s.solution) for s in (p.steps or [])]
        for u, p in zip(outputs[one_pass], outputs[default], strict=True)
    )
    rows = [(variant[0], seconds[variant[0]], outputs[variant[0]], variant[3])
            for variant in variants]
    rows[-1] = (*rows[-1][:3], f"same steps as socratic for {same}/{n} problems")

    base = min(seconds[name] for name in names if name.startswith(baseline))
    print("\n| method | problems/s | vs baseline | generated tokens | prompt tokens | note |")
    print("|---|---:|---:|---:|---:|---|")
    for name, spent, out, note in rows:
        generated = sum(p.completion_tokens for p in out)
        read = sum(p.prompt_tokens for p in out)
        print(f"| {name} | {n / spent:.2f} | {base / spent:.2f}x | {generated} | {read} | {note} |")
    print(f"\nall {len(texts)} socratic variants: identical greedy output ({n} problems)")
    print(f"batched vs naive (prefix cache both): {seconds[cached] / seconds[default]:.2f}x;"
          f" without it: {seconds[baseline] / seconds[plain_batched]:.2f}x;"
          f" batched+cache vs the faster plain naive: {base / seconds[default]:.2f}x"
          " (target >= 5x)")
    print(f"socratic vs unified time: {seconds[default] / seconds[one_pass]:.2f}x (target <= 1.5x);"
          f" without the prefix cache {seconds[plain_batched] / seconds[one_pass]:.2f}x")
    one, many = forward_cost(model, 1, clock), forward_cost(model, 32, clock)
    print(f"one decoding step (200-token context): batch 1 {one:.2f} ms, batch 32 {many:.2f} ms"
          f" = {many / 32:.2f} ms per row, so batching bounds decoding gains at {32 * one / many:.1f}x"
          " on this machine")
    print(f"{n} synthetic:test problems, greedy, calculator on, max 6 steps; model"
          f" {args.layers}x{args.width}, {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M"
          f" parameters, {args.train_steps} training steps; {torch.get_num_threads()} thread(s);"
          f" median of {args.runs} interleaved runs; {args.clock} time")


if __name__ == "__main__":
    main()

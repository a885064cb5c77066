"""The batched decoding engine: identical to one-at-a-time decoding, calculator, pruning."""

from __future__ import annotations

import re

import torch
from infer_helpers import make_problems, make_steered

import socratic_distill.infer.generate as generate_module
from socratic_distill.calculator import calculator_completion
from socratic_distill.infer.generate import (
    PrefixCache,
    generate,
    generate_naive,
    prefill_groups,
    truncate_at_stop,
)


def varied_prompts(n: int = 12) -> list[str]:
    texts = [p.question for p in make_problems(n)]
    return [text[: 4 + 11 * i] for i, text in enumerate(texts)]  # 1 to ~30 tokens


def restricted(tok) -> list[int]:
    """Token ids of arithmetic text: a random model limited to them writes `<<..=` often."""
    pieces = ["<<", "=", ">>", "+", "*", "\n", " ", *"0123456789"]
    return sorted({i for piece in pieces for i in tok.encode(piece)})


def test_truncate_at_stop():
    assert truncate_at_stop("a b\nc", True, ()) == ("a b", "newline")
    assert truncate_at_stop("a b\nc", False, ()) == ("a b\nc", None)
    assert truncate_at_stop("x Q: [END] y", False, ("[END]",)) == ("x Q: ", "stop")
    assert truncate_at_stop("x\n[END]", True, ("[END]",)) == ("x", "newline")


def test_batched_equals_naive_greedy(model, tok):
    prompts = varied_prompts()
    settings = dict(max_new_tokens=24)
    batched = generate(model, tok, prompts, batch_size=5, **settings)
    naive = generate_naive(model, tok, prompts, **settings)
    assert [g.text for g in batched] == [g.text for g in naive]
    assert batched == naive  # token counts and finish reasons too
    assert len({g.text for g in batched}) > len(prompts) // 2  # outputs really differ


def test_naive_equals_hugging_face_generate(model, tok):
    prompts = varied_prompts(4)
    ours = generate_naive(model, tok, prompts, max_new_tokens=12)
    for prompt, generation in zip(prompts, ours, strict=True):
        encoded = tok(prompt, return_tensors="pt")
        out = model.generate(**encoded, max_new_tokens=12, do_sample=False,
                             pad_token_id=tok.eos_token_id)
        ids = out[0, encoded.input_ids.shape[1]:].tolist()
        ids = ids[: ids.index(tok.eos_token_id)] if tok.eos_token_id in ids else ids
        assert tok.decode(ids, clean_up_tokenization_spaces=False) == generation.text


def test_batched_equals_naive_with_calculator_and_stops(tok):
    model = make_steered(tok, allowed=restricted(tok))
    prompts = varied_prompts()
    for settings in (
        dict(max_new_tokens=40, calculator=True),
        dict(max_new_tokens=40, calculator=True, stop_at_newline=True, stop_strings=(" *",)),
    ):
        batched = generate(model, tok, prompts, batch_size=4, **settings)
        naive = generate_naive(model, tok, prompts, **settings)
        assert batched == naive
    computed = generate(model, tok, prompts, max_new_tokens=40, calculator=True)
    # The calculator fired somewhere, and every `<<a=` it closed holds the true value.
    closed = [m for g in computed for m in re.finditer(r"<<([^<>=]*)=([^<>=]*)>>", g.text)]
    assert closed
    for match in closed:
        assert calculator_completion(f"<<{match.group(1)}=").startswith(f"{match.group(2)}>>")


def scripted(tok, *pieces: str):
    """A model that writes `pieces` after the prompt "Tom has" (each piece encoded apart), and
    its greedy generation with and without the calculator: (script_ids, plain, calculated)."""
    prompt = "Tom has"
    start = len(tok.encode(prompt))
    script_ids = [token for piece in pieces for token in tok.encode(piece)]
    model = make_steered(tok, script={start + k: t for k, t in enumerate(script_ids)})
    settings = dict(max_new_tokens=30, stop_at_newline=True)
    plain = generate(model, tok, [prompt], **settings)[0]
    calculated = generate(model, tok, [prompt], calculator=True, **settings)[0]
    assert generate_naive(model, tok, [prompt], calculator=True, **settings)[0] == calculated
    return script_ids, plain, calculated


def test_calculator_forces_the_value(tok):
    script_ids, plain, forced = scripted(tok, "<<2+3=", "9>>7", " ok\n")
    assert plain.text == "<<2+3=9>>7 ok"
    # The value and its copy after `>>` are the calculator's; the model goes on after them.
    assert forced.text == "<<2+3=5>>5 ok"
    assert forced.finish_reason == "newline"
    assert forced.completion_tokens == len(script_ids)


def test_calculator_writes_the_annotation_of_the_expression_before_it(tok):
    # The model would miscopy both the expression and its value; the calculator writes them.
    _, plain, forced = scripted(tok, " 2+3 = <<", "2+4=9>>7", " ok\n")
    assert plain.text == " 2+3 = <<2+4=9>>7 ok"
    assert forced.text == " 2+3 = <<2+3=5>>5 ok"


def test_calculator_writes_the_answer_the_line_computed(tok):
    # The model would miscopy the result after `####`; the calculator repeats it.
    _, plain, forced = scripted(tok, " <<2+3=", "5>>5 ####", " 9", "\n")
    assert plain.text == " <<2+3=5>>5 #### 9"
    assert forced.text == " <<2+3=5>>5 #### 5"


def test_finished_rows_leave_the_batch(tok):
    newline = tok.encode("\n")[0]
    no_newline = [t for t in restricted(tok) if t != newline]
    model = make_steered(tok, allowed=no_newline, script={20: newline})  # all end at position 20
    prompts = varied_prompts(4)  # 3 to 16 tokens: they finish at different steps
    model.batch_sizes.clear()
    results = generate(model, tok, prompts, max_new_tokens=40, stop_at_newline=True)
    sizes = model.batch_sizes
    assert sizes[0] == 4 and sizes[-1] == 1
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4
    assert all(g.finish_reason == "newline" for g in results)
    lengths = [len(tok.encode(p)) for p in prompts]
    assert [g.completion_tokens for g in results] == [21 - n for n in lengths]
    assert len(sizes) == max(21 - n for n in lengths)  # a prefill, then one step per token


def test_waiting_rows_join_a_running_batch(tok, monkeypatch):
    monkeypatch.setitem(generate_module.REFILL_AT, "cpu", 0.25)  # as on a GPU
    newline = tok.encode("\n")[0]
    no_newline = [t for t in restricted(tok) if t != newline]
    model = make_steered(tok, allowed=no_newline, script={22: newline, 40: newline})
    prompts = varied_prompts(10)  # up to ~40 tokens: rows end at position 22 or 40
    model.batch_sizes.clear()
    batched = generate(model, tok, prompts, max_new_tokens=30, stop_at_newline=True,
                       calculator=True, batch_size=4)
    sizes = model.batch_sizes
    grew = any(later > earlier for earlier, later in zip(sizes, sizes[1:], strict=False))
    assert max(sizes) == 4 and grew  # waiting rows joined the running batch
    model.batch_sizes.clear()
    assert batched == generate_naive(model, tok, prompts, max_new_tokens=30,
                                     stop_at_newline=True, calculator=True)


def brute_force_cost(lengths: list[int], group_cost: int) -> int:
    """The cheapest split into runs, trying every set of cut points."""
    n, best = len(lengths), None
    for mask in range(2 ** max(n - 1, 0)):
        cuts = [0] + [i + 1 for i in range(n - 1) if mask >> i & 1] + [n]
        cost = sum((end - start) * lengths[start] + group_cost
                   for start, end in zip(cuts, cuts[1:], strict=False))
        best = cost if best is None else min(best, cost)
    return best


def test_prefill_groups_are_the_cheapest_split():
    import random

    rng = random.Random(0)
    for _ in range(200):
        lengths = sorted((rng.randint(1, 80) for _ in range(rng.randint(1, 9))), reverse=True)
        cost = rng.choice([0, 8, 32, 1000])
        runs = prefill_groups(lengths, cost)
        assert runs[0][0] == 0 and runs[-1][1] == len(lengths)
        assert all(a[1] == b[0] for a, b in zip(runs, runs[1:], strict=False))
        spent = sum((end - start) * lengths[start] + cost for start, end in runs)
        assert spent == brute_force_cost(lengths, cost)
    assert prefill_groups([90, 88, 5, 4], 32) == [(0, 2), (2, 4)]
    assert prefill_groups([90, 88, 85, 80], 32) == [(0, 4)]


def test_prompts_of_unlike_lengths_are_prefilled_apart(model, tok):
    texts = [p.question for p in make_problems(8)]
    # Four long prompts of one length and four short ones.
    prompts = [f"{i}: {texts[0] * 3}" if i % 2 else texts[i][:12] for i in range(8)]
    widths = []
    hook = model.register_forward_pre_hook(
        lambda _, args, kwargs: widths.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True)
    try:
        batched = generate(model, tok, prompts, max_new_tokens=5, batch_size=8)
    finally:
        hook.remove()
    assert widths[0][0] == 4 and widths[1][0] == 4 and widths[0][1] > 3 * widths[1][1]
    assert widths[2] == (8, 1)  # then one batch decodes all eight rows
    assert batched == generate_naive(model, tok, prompts, max_new_tokens=5)


def test_end_token_and_budget(tok):
    model = make_steered(tok, script={6: tok.eos_token_id})
    prompts = ["Tom has 3", "Tom has 3 apples and buys 4 more, happily, happily"]
    ended, budget = generate(model, tok, prompts, max_new_tokens=8)
    assert ended.finish_reason == "eos" and tok.eos_token not in ended.text
    assert ended.completion_tokens == 7 - len(tok.encode(prompts[0]))
    assert budget.finish_reason == "length" and budget.completion_tokens == 8
    assert budget.prompt_tokens == len(tok.encode(prompts[1]))


def test_a_list_of_end_tokens_in_the_generation_config(tok):
    """Generation configs may hold a list of end ids (transformers writes `[0]` for some)."""
    other_end = tok.encode(" apples")[0]
    model = make_steered(tok, script={6: other_end})
    model.generation_config.eos_token_id = [tok.eos_token_id, other_end]
    ended = generate(model, tok, ["Tom has 3"], max_new_tokens=8)[0]
    assert ended.finish_reason == "eos" and ended.completion_tokens == 7 - len(tok.encode("Tom has 3"))


def test_sampling_is_seeded_and_independent_of_batching(model, tok):
    prompts = varied_prompts(6)
    settings = dict(max_new_tokens=16, temperature=1.0, top_p=0.9, seed=7)
    first = generate(model, tok, prompts, batch_size=4, **settings)
    assert first == generate(model, tok, prompts, batch_size=4, **settings)
    assert first == generate_naive(model, tok, prompts, **settings)
    other = generate(model, tok, prompts, batch_size=4, **{**settings, "seed": 8})
    assert first != other


def test_prompt_beyond_the_context_window(model, tok):
    too_long, near, fine = generate(model, tok, ["apples " * 600, "apples " * 254, "Tom has"],
                                    max_new_tokens=50)
    assert too_long.error and "context window (512" in too_long.error
    assert too_long.finish_reason == "error" and too_long.text == ""
    assert near.error is None and near.completion_tokens <= 512 - near.prompt_tokens
    assert fine.error is None and fine.completion_tokens > 0


def test_prefix_cache_reuses_and_changes_nothing(model, tok):
    prompts = varied_prompts(8)
    cache = PrefixCache()
    keys = list(range(len(prompts)))
    first = generate(model, tok, prompts, max_new_tokens=6, batch_size=3, prefix_cache=cache,
                     prefix_keys=keys)
    assert cache.reused_tokens == 0 and len(cache.entries) == len(prompts)
    # Extend half of the prompts with their completion; the rest change or are new keys.
    longer = [p + g.text + " and more" if i % 2 == 0 else p[::-1]
              for i, (p, g) in enumerate(zip(prompts, first, strict=True))]
    reused = generate(model, tok, longer, max_new_tokens=10, batch_size=3, prefix_cache=cache,
                      prefix_keys=keys)
    assert reused == generate(model, tok, longer, max_new_tokens=10, batch_size=3)
    assert reused == generate_naive(model, tok, longer, max_new_tokens=10, prefix_cache=cache,
                                    prefix_keys=keys)
    # The extended prompts reused their whole first prompt and completion (but its last token).
    assert cache.reused_tokens >= sum(len(tok.encode(p)) for p in prompts[::2])
    cache.drop(keys[:2])
    assert len(cache.entries) == len(prompts) - 2


def test_reused_prefixes_of_unlike_lengths_decode_as_one_batch(model, tok):
    """Groups with reused prefixes are prefilled into one shared room, then decoded together."""
    texts = [p.question for p in make_problems(6)]
    prompts = [texts[i][: 10 + 9 * i] for i in range(6)]
    cache, keys = PrefixCache(), list(range(6))
    first = generate(model, tok, prompts, max_new_tokens=4, batch_size=6, prefix_cache=cache,
                     prefix_keys=keys)
    # Three continuations add a long text, three a short one: two prefill groups, both reusing.
    longer = [p + g.text + (f" {texts[0] * 2}" if i % 2 else " so")
              for i, (p, g) in enumerate(zip(prompts, first, strict=True))]
    rows = []
    hook = model.register_forward_pre_hook(
        lambda _, args, kwargs: rows.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    try:
        reused = generate(model, tok, longer, max_new_tokens=8, batch_size=6, prefix_cache=cache,
                          prefix_keys=keys)
    finally:
        hook.remove()
    assert rows[:3] == [3, 3, 6] and cache.reused_tokens > 0
    assert reused == generate_naive(model, tok, longer, max_new_tokens=8)


def test_nucleus_samples_follow_the_distribution_and_never_leave_it():
    """The batch-at-once draw (inverse CDF at each row's uniform) samples the nucleus in
    proportion, and a token outside it (or of zero probability) never."""
    probs = torch.tensor([0.05, 0.5, 0.0, 0.3, 0.15])
    rows = [generate_module._Row(prompt=[0], seed=seed, limit=1) for seed in range(4000)]
    logits = probs.log().expand(len(rows), -1)
    settings = generate_module._Settings(1, False, (), False, temperature=1.0, top_p=0.9)
    counts = torch.bincount(generate_module._sample(logits, rows, settings), minlength=5)
    assert counts[0] == 0 and counts[2] == 0  # beyond the 0.9 nucleus; zero probability
    nucleus = torch.tensor([0.0, 0.5, 0.0, 0.3, 0.15]) / 0.95
    assert torch.allclose(counts / len(rows), nucleus, atol=0.03)


def test_each_row_draws_from_its_own_generator_on_the_logits_device():
    logits = torch.randn(3, 40)
    rows = [generate_module._Row(prompt=[0], seed=seed, limit=1) for seed in (5, 6, 7)]
    settings = generate_module._Settings(1, False, (), False, temperature=1.0, top_p=1.0)
    together = generate_module._sample(logits, rows, settings)
    assert together.device == logits.device
    assert all(row.rng is not None and row.rng.device == logits.device for row in rows)
    # A row's sample does not depend on the other rows of its batch.
    alone = [generate_module._sample(logits[k:k + 1], [generate_module._Row([0], seed, 1)],
                                     settings) for k, seed in enumerate((5, 6, 7))]
    assert together.tolist() == [int(token) for token in alone]

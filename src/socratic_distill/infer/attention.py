"""Attention that skips a batch's left padding, one run of rows at a time.

In a left-padded batch every row attends over the cache's full width: a short row beside a
long one reads columns that are all masked padding. Decoding attention on a CPU is bound by
memory bandwidth, so those columns cost as much as real ones; in batched serving, where one
call mixes dialogues at different depths, 38% of the columns that decoding attention read were
padding (`bench/bench_serve.py`, traced).

`row_groups(mask)` cuts the batch's rows into contiguous runs, each with the first column
that any of its rows uses; `grouped_sdpa` then runs SDPA once per run, on views of the run's
rows and of the columns from that one on (no copy). A run costs a fixed `CALL_COST_COLUMNS`
(the call's own overhead) plus its rows times its columns; the cuts are the cheapest by dynamic
programming. The result equals SDPA over the whole batch: the columns left out are masked for
every row of the run.

`install(model)` registers this as an attention implementation of transformers (with SDPA's
masks) and switches a model that uses SDPA to it; `generate` passes the runs as the forward's
`row_groups` argument, which transformers hands to the attention function.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from socratic_distill.infer import kv
from socratic_distill.versions import internal

AttentionInterface = internal("transformers", "AttentionInterface")
AttentionMaskInterface = internal("transformers.masking_utils", "AttentionMaskInterface")
sdpa_attention_forward = internal("transformers.integrations.sdpa_attention",
                                  "sdpa_attention_forward")
sdpa_mask = internal("transformers.masking_utils", "sdpa_mask")

NAME = "sdpa_row_groups"
# What one more SDPA call costs, in row-columns of attention: about 7 us of call overhead on
# the measured CPU, where one row-column costs 0.05-0.14 us (warm or cold cache).
CALL_COST_COLUMNS = 128
# Longest run considered: it bounds the plan's cost (78 us for 32 rows, 1 ms for 128 without
# it); a longer run would save at most one call's overhead.
MAX_RUN_ROWS = 32

RowGroups = list[tuple[int, int, int]]  # (first row, end row, first column), rows contiguous


def row_groups(mask: torch.Tensor, call_cost: int | None = None) -> RowGroups:
    """The cheapest cut of `mask`'s rows ([rows, columns], nonzero for real tokens; every row
    has one) into contiguous runs, each with the first column one of its rows uses."""
    call_cost = CALL_COST_COLUMNS if call_cost is None else call_cost
    first = mask.int().argmax(dim=1).tolist()
    # A run costs call_cost + rows * (width - its first column); the width is the same for
    # every cut, so minimise call_cost - rows * first column.
    best, cut, column = [0] + [0] * len(first), [0] * (len(first) + 1), [0] * (len(first) + 1)
    for end in range(1, len(first) + 1):
        lowest = first[end - 1]
        best[end] = best[end - 1] + call_cost - lowest
        cut[end], column[end] = end - 1, lowest
        for start in range(end - 2, max(end - MAX_RUN_ROWS, 0) - 1, -1):
            lowest = min(lowest, first[start])
            cost = best[start] + call_cost - (end - start) * lowest
            if cost < best[end]:
                best[end], cut[end], column[end] = cost, start, lowest
    runs, end = [], len(first)
    while end:
        runs.append((cut[end], end, column[end]))
        end = cut[end]
    return runs[::-1]


def grouped_sdpa(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                 attention_mask: torch.Tensor | None, row_groups: RowGroups | None = None,
                 **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' SDPA attention, run per row group on the columns the group uses."""
    trivial = not row_groups or (len(row_groups) == 1 and row_groups[0][2] == 0)
    if trivial or attention_mask is None or attention_mask.shape[0] != query.shape[0] \
            or attention_mask.shape[-1] != key.shape[-2]:  # columns not the cache's own
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    outputs = [
        sdpa_attention_forward(module, query[start:end], key[start:end, :, column:],
                               value[start:end, :, column:],
                               attention_mask[start:end, ..., column:], **kwargs)[0]
        for start, end, column in row_groups
    ]
    return torch.cat(outputs), None


def install(model: Any) -> bool:
    """Switch `model` from SDPA to `grouped_sdpa`; False (and no change) for other attention,
    for models with sliding-window layers (their keys are not the mask's columns), and for a
    forward that takes no extra keyword arguments (it could not pass the runs on; transformers'
    own models all do)."""
    if getattr(model.config, "_attn_implementation", None) not in ("sdpa", NAME):
        return False
    if not kv.full_attention_only(model):
        return False
    parameters = inspect.signature(model.forward).parameters.values()
    if not any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return False
    AttentionInterface.register(NAME, grouped_sdpa)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    if model.config._attn_implementation != NAME:
        model.set_attn_implementation(NAME)
    return True


def installed(model: Any) -> bool:
    return getattr(model.config, "_attn_implementation", None) == NAME

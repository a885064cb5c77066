"""Batched decoding over Hugging Face causal LMs, with GSM8K's calculator.

`generate` decodes many prompts together, never one at a time: prompts are sorted by length
and taken `batch_size` at a time, left-padded, prefilled in groups of like lengths (one forward
each, written into one shared cache), then decoded token by token against a KV cache
(attention mask, and positions counted over real tokens only). A row that finishes (end of
sequence, a newline when `stop_at_newline`, a stop string, its token budget) leaves the batch at
once: it is pruned from the cache, the mask and the positions, by moving the fewest rows. On a
GPU, waiting prompts are prefilled and join the running batch as rows leave. With
`attention.install`, each forward tells attention which runs of rows may skip which leading
columns (padding for all of them); the runs are planned again whenever the rows change.

The calculator is GSM8K's (Cobbe et al., 2021), extended: when a row's text ends with `<<EXPR=`,
the tokens of `VALUE>>VALUE` are forced into that row over its next steps (a per-row queue that
overrides the model's choice), so arithmetic inside annotations is exact; when it ends with
`EXPR = <<`, the whole annotation `EXPR=VALUE>>VALUE` is, and when it ends with `####`, the
value of the step's last annotation (`calculator.calculator_completion`).

With a `PrefixCache` and a key per prompt, a prompt that extends the key's previous prompt and
completion (the Socratic turns) computes only its new tokens.

`generate_naive` is the same decoding one prompt at a time, the reference that tests and the
benchmark compare against: greedy batched text equals it exactly.

Every backend (this one, `vllm_backend`) has the same signature once bound to its model:
`fn(prompts, **settings) -> list[Generation]` (see `GenerateFn`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol

import torch

from socratic_distill.calculator import ANSWER_MARK, calculator_completion
from socratic_distill.infer import attention, buffers, kv, onednn
from socratic_distill.infer.kv import PrefixCache

FinishReason = Literal["eos", "newline", "stop", "length", "error"]

_CALC_WINDOW = 64  # tokens of tail decoded to find an open annotation; they are far shorter
_ANSWER_WINDOW = 256  # after `####`: enough for the line whose last result it repeats
# Waiting rows join a running batch once this fraction of it is free (None: only when it is
# empty). A CPU forward costs in proportion to its rows, so fuller batches gain nothing there
# while merging caches costs copies (measured 5-10% slower); a GPU forward costs about the same
# for 1 or 32 rows, so there a batch should stay full.
REFILL_AT: dict[str, float | None] = {"cpu": None}
DEFAULT_REFILL_AT = 0.25
# A prompt batch is prefilled in groups of similar lengths when that saves padded positions:
# a group costs its rows x its longest prompt, plus this many positions for the extra forward
# and the cache merge (measured on CPU, where a padded position costs as much as a real one).
GROUP_COST_POSITIONS = 32


@dataclass
class Generation:
    """One completion: its text (without the end token, newline or stop string) and usage.

    A prompt that cannot be completed (it fills the context window) gets `error` and no text;
    the rest of its batch is unaffected.
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason = "length"
    error: str | None = None


class GenerateFn(Protocol):
    """A backend bound to its model: prompts in, one `Generation` per prompt out, in order."""

    def __call__(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int,
        stop_at_newline: bool = False,
        stop_strings: Sequence[str] = (),
        calculator: bool = False,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | Sequence[int] = 0,
        batch_size: int = 32,
        prefix_cache: PrefixCache | None = None,
        prefix_keys: Sequence[Hashable] | None = None,
    ) -> list[Generation]: ...


def truncate_at_stop(
    text: str, stop_at_newline: bool, stop_strings: Sequence[str]
) -> tuple[str, FinishReason | None]:
    """`text` cut before its first newline (when asked) or stop string, and why it was cut."""
    cuts = [(text.find(s), "stop") for s in stop_strings if s and s in text]
    if stop_at_newline and "\n" in text:
        cuts.append((text.find("\n"), "newline"))
    if not cuts:
        return text, None
    position, reason = min(cuts)
    return text[:position], reason  # type: ignore[return-value]


@dataclass
class _Settings:
    max_new_tokens: int
    stop_at_newline: bool
    stop_strings: tuple[str, ...]
    calculator: bool
    temperature: float
    top_p: float


@dataclass
class _Row:
    prompt: list[int]
    seed: int
    limit: int  # most tokens this row may generate (budget and context window)
    ids: list[int] = field(default_factory=list)
    forced: deque[int] = field(default_factory=deque)
    generated: int = 0  # tokens generated, the end token included
    reason: FinishReason | None = None
    rng: torch.Generator | None = None  # for sampling, on the logits' device (`_generator`)
    key: Hashable | None = None  # its PrefixCache entry
    reuse: int = 0  # prompt tokens whose keys and values come from the PrefixCache
    past: list[kv.KV] = field(default_factory=list)
    error: str | None = None


class _Decoder:
    """Per-tokenizer helpers: end tokens, single-token pieces (cached), tail decoding."""

    def __init__(self, model: Any, tokenizer: Any):
        self.tokenizer = tokenizer
        # Either may be one id or a list of them (generation configs write both).
        ends = (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None))
        self.eos: set[int] = set()
        for end in ends:
            if end is not None:
                self.eos.update(end if isinstance(end, (list, tuple)) else [end])
        pad = tokenizer.pad_token_id
        self.pad = pad if pad is not None else (min(self.eos) if self.eos else 0)
        self._pieces: dict[int, str] = {}

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(
            list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False
        )

    def piece(self, token: int) -> str:
        if token not in self._pieces:
            self._pieces[token] = self.decode([token])
        return self._pieces[token]


def _context_window(model: Any) -> int | None:
    config = model.config
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _choose(logits: torch.Tensor, rows: list[_Row], settings: _Settings) -> list[int]:
    """The next token of each row: its forced token, else greedy or nucleus sampling."""
    if settings.temperature <= 0:
        chosen = logits.argmax(dim=-1).tolist()
    else:
        chosen = _sample(logits, rows, settings).tolist()
    pairs = zip(rows, chosen, strict=True)
    return [row.forced.popleft() if row.forced else token for row, token in pairs]


def _sample(logits: torch.Tensor, rows: list[_Row], settings: _Settings) -> torch.Tensor:
    """One nucleus sample per row, drawn for the whole batch at once by inverting each row's
    CDF at a uniform from the row's own generator (on the logits' device): a row's samples do
    not depend on its batch or its place in it, and no row waits on the host."""
    probs = torch.softmax(logits / settings.temperature, dim=-1)
    order = None
    if settings.top_p < 1.0:
        probs, order = probs.sort(dim=-1, descending=True)
        # Keep the smallest prefix whose mass reaches top_p (the top token always stays).
        probs = probs.masked_fill(probs.cumsum(dim=-1) - probs >= settings.top_p, 0.0)
    uniforms = torch.cat([torch.rand(1, generator=_generator(row, logits.device),
                                     device=logits.device) for row in rows])
    cdf = probs.cumsum(dim=-1)
    # The first token whose CDF exceeds u * total: never one of zero probability.
    chosen = torch.searchsorted(cdf, (uniforms * cdf[:, -1])[:, None], right=True)
    chosen = chosen.clamp(max=probs.shape[-1] - 1)
    return (chosen if order is None else order.gather(-1, chosen)).squeeze(-1)


def _generator(row: _Row, device: torch.device) -> torch.Generator:
    """The row's random generator, on `device` (made from the row's seed on first use)."""
    if row.rng is None or row.rng.device != device:
        row.rng = torch.Generator(device=device).manual_seed(row.seed)
    return row.rng


def _advance(row: _Row, token: int, decoder: _Decoder, settings: _Settings) -> None:
    """Append `token` to `row`, decide whether the row is finished, queue calculator tokens."""
    row.generated += 1
    if token in decoder.eos:
        row.reason = "eos"
        return
    row.ids.append(token)
    piece = decoder.piece(token)
    if settings.stop_at_newline and "\n" in piece:
        row.reason = "newline"
    elif settings.stop_strings:
        window = 4 * max(len(s) for s in settings.stop_strings) + 1
        tail = decoder.decode(row.ids[-window:])
        if any(s in tail for s in settings.stop_strings):
            row.reason = "stop"
    if row.reason is None and row.generated >= row.limit:
        row.reason = "length"
    if (row.reason is None and settings.calculator and not row.forced
            and piece.endswith(("=", "<", ANSWER_MARK[-1]))):
        window = _ANSWER_WINDOW if piece.endswith(ANSWER_MARK[-1]) else _CALC_WINDOW
        written = calculator_completion(decoder.decode(row.ids[-window:]))
        if written is not None:
            row.forced.extend(decoder.tokenizer.encode(written, add_special_tokens=False))


def _widths(rows: list[_Row]) -> tuple[int, int]:
    """The cache columns a prefill of `rows` takes: the longest reused part, the longest new."""
    return max(row.reuse for row in rows), max(len(row.prompt) - row.reuse for row in rows)


def _prefill(model: Any, decoder: _Decoder, rows: list[_Row], store: PrefixCache | None, names,
             place: tuple[kv.SharedRoom, slice, int] | None = None):
    """One forward over the prompts (the parts not reused), left-padded; the cache it fills
    (in `place`: a shared room, its rows and first column, when given).

    A row's reused part sits in the cache columns just before its new tokens:
    `[pad | reused | pad | new]`; the attention mask hides both pads and positions count only
    real tokens, so the model sees exactly the whole prompt.
    """
    device = model.device
    past, new = _widths(rows)
    ids = torch.full((len(rows), new), decoder.pad, dtype=torch.long)
    mask = torch.zeros((len(rows), past + new), dtype=torch.long)
    for k, row in enumerate(rows):
        fresh = row.prompt[row.reuse:]
        ids[k, new - len(fresh):] = torch.tensor(fresh)
        mask[k, past + new - len(fresh):] = 1
        mask[k, past - row.reuse:past] = 1
    ids, mask = ids.to(device), mask.to(device)
    positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)
    cache = kv.new_cache(model, *(place or ()))
    if past:
        reference = next(row.past for row in rows if row.reuse)  # sliced empty for new rows
        pasts = [row.past if row.reuse else reference for row in rows]
        layer_pieces = [
            [(kvs[layer][0][None, :, :row.reuse], kvs[layer][1][None, :, :row.reuse])
             for row, kvs in zip(rows, pasts, strict=True)]
            for layer in range(len(reference))
        ]
        kv.stack_left_padded(cache, layer_pieces, past, spare=new)
    groups = attention.row_groups(mask) if attention.installed(model) else None
    logits = kv.forward(model, ids, mask, positions[:, past:], cache, names, groups)
    for row in rows:
        row.past = []
        if store is not None:
            store.reused_tokens += row.reuse
            store.computed_tokens += len(row.prompt) - row.reuse
    return logits, cache, mask, positions[:, -1]


def prefill_groups(lengths: Sequence[int], group_cost: int) -> list[tuple[int, int]]:
    """Split rows sorted longest first into runs `(start, end)` that cost the fewest positions.

    A run costs `(end - start) * lengths[start]` (every row padded to its longest) plus
    `group_cost`; the exact optimum by dynamic programming over the cut points.
    """
    best, cut = [0] + [math.inf] * len(lengths), [0] * (len(lengths) + 1)
    for end in range(1, len(lengths) + 1):
        for start in range(end):
            cost = best[start] + (end - start) * lengths[start] + group_cost
            if cost < best[end]:
                best[end], cut[end] = cost, start
    runs, end = [], len(lengths)
    while end:
        runs.append((cut[end], end))
        end = cut[end]
    return runs[::-1]


def _remember(store: PrefixCache, rows: list[_Row], indices: list[int], cache, mask) -> None:
    """Save finished rows' keys and values (prompt and generated tokens) under their keys."""
    layers = kv.layers(cache)
    for k in indices:
        row = rows[k]
        if layers is None or row.key is None:
            continue
        # The cache holds every token fed to the model: the prompt and the generated tokens but
        # the last, which was chosen and never fed (unless it was the end token, kept out of ids).
        fed = row.prompt + (row.ids if row.reason == "eos" else row.ids[:-1])
        columns = mask[k].nonzero().squeeze(-1)
        store.entries[row.key] = (fed, [(keys[k][:, columns], values[k][:, columns])
                                        for keys, values in layers])


@dataclass
class _Batch:
    """The rows being decoded together and their state: next-token logits, cache, mask."""

    rows: list[_Row]
    logits: torch.Tensor
    cache: Any
    mask: torch.Tensor  # [rows, cache columns]: 1 for real tokens, 0 for padding
    last: torch.Tensor  # each row's position of its last token
    groups: attention.RowGroups | None = None  # runs of rows for attention; None: not planned

    def keep(self, keep: list[int]) -> None:
        """Finished rows leave the batch: from the cache, the mask and the positions."""
        index = torch.tensor(keep, dtype=torch.long, device=self.mask.device)
        self.cache.batch_select_indices(index)
        self.mask, self.last, self.logits = self.mask[index], self.last[index], self.logits[index]
        self.rows = [self.rows[k] for k in keep]
        self.groups = None
        # Columns that only left rows used: padding for every row left, so cut them (views).
        layers = kv.layers(self.cache) if self.rows else None
        start = int(self.mask.any(dim=0).int().argmax()) if layers is not None else 0
        if start > 0:
            kv.drop_leading_columns(self.cache, start)
            self.mask = self.mask[:, start:]


def _join(batches: Sequence[_Batch], cache: Any, width: int) -> _Batch:
    """One batch of `batches`' rows over `cache`, which holds all their keys and values
    left-padded to `width` columns, in order."""

    def left_pad(mask: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(mask, [width - mask.shape[1], 0])

    return _Batch(
        rows=[row for batch in batches for row in batch.rows],
        logits=torch.cat([batch.logits for batch in batches]),
        cache=cache,
        mask=torch.cat([left_pad(batch.mask) for batch in batches]),
        last=torch.cat([batch.last for batch in batches]),
    )


def _stacked(batches: Sequence[_Batch]) -> _Batch:
    """`batches` as one batch, their caches stacked left-padded into one (one copy)."""
    width = max(batch.mask.shape[1] for batch in batches)
    per_layer = zip(*(kv.layers(batch.cache) for batch in batches), strict=True)
    kv.stack_left_padded(batches[0].cache, [list(pieces) for pieces in per_layer], width)
    return _join(batches, batches[0].cache, width)


def _decode(model: Any, decoder: _Decoder, pending: deque[_Row], settings: _Settings,
            store: PrefixCache | None, batch_size: int) -> None:
    """Decode every pending row, at most `batch_size` at a time.

    Rows leave the batch as they finish; once `REFILL_AT` of the batch is free, waiting rows
    are prefilled and join it (continuous batching), so that a few long rows do not run alone
    while others wait.
    """
    device, names = model.device, kv.forward_kwargs(model)
    refill_at = REFILL_AT.get(device.type, DEFAULT_REFILL_AT)
    room = None if refill_at is None else max(1, int(batch_size * refill_at))
    # Only plain full caches can merge: others are prefilled in one group and never refilled.
    mergeable = kv.full_attention_only(model)
    grouped = attention.installed(model)

    def admit(count: int) -> _Batch:
        rows = [pending.popleft() for _ in range(min(count, len(pending)))]
        lengths = [len(row.prompt) - row.reuse for row in rows]
        runs = prefill_groups(lengths, GROUP_COST_POSITIONS) if mergeable else [(0, len(rows))]
        for start, end in runs:  # longest reused part first: left padding grows down each run
            rows[start:end] = sorted(rows[start:end], key=lambda row: -row.reuse)
        if len(runs) == 1:
            return _Batch(rows, *_prefill(model, decoder, rows, store, names))
        # Each group is prefilled straight into its rows of one shared room, right-aligned, so
        # that they decode together without a merging copy.
        widths = [sum(_widths(rows[start:end])) for start, end in runs]
        shared = kv.SharedRoom(len(rows), max(widths))
        batches = [
            _Batch(rows[start:end], *_prefill(model, decoder, rows[start:end], store, names,
                                              (shared, slice(start, end), shared.width - width)))
            for (start, end), width in zip(runs, widths, strict=True)
        ]
        return _join(batches, shared.cache(model), shared.width)

    if not pending:
        return
    batch = admit(batch_size)
    while batch.rows:
        tokens = _choose(batch.logits, batch.rows, settings)
        for row, token in zip(batch.rows, tokens, strict=True):
            _advance(row, token, decoder, settings)
        keep = [k for k, row in enumerate(batch.rows) if row.reason is None]
        if len(keep) < len(batch.rows):
            if store is not None:
                done = [k for k, row in enumerate(batch.rows) if row.reason is not None]
                _remember(store, batch.rows, done, batch.cache, batch.mask)
            keep = kv.compaction_order(len(batch.rows), keep)
            tokens = [tokens[k] for k in keep]
            batch.keep(keep)
        if batch.rows:
            batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(keep), 1))], dim=-1)
            batch.last = batch.last + 1
            step = torch.tensor(tokens, dtype=torch.long, device=device)[:, None]
            if grouped and batch.groups is None:  # planned anew when rows join or leave
                batch.groups = attention.row_groups(batch.mask)
            batch.logits = kv.forward(model, step, batch.mask, batch.last[:, None], batch.cache,
                                      names, batch.groups)
        free = batch_size - len(batch.rows)
        if pending and not batch.rows:
            batch = admit(batch_size)
        elif pending and room is not None and free >= room and mergeable:
            batch = _stacked([batch, admit(free)])


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    *,
    max_new_tokens: int,
    stop_at_newline: bool = False,
    stop_strings: Sequence[str] = (),
    calculator: bool = False,
    temperature: float = 0.0,
    top_p: float = 1.0,
    seed: int | Sequence[int] = 0,
    batch_size: int = 32,
    prefix_cache: PrefixCache | None = None,
    prefix_keys: Sequence[Hashable] | None = None,
) -> list[Generation]:
    """Complete every prompt, batched; results in the prompts' order.

    Greedy when `temperature` is 0, else nucleus sampling with `top_p`; `seed` is an int (row
    `i` uses `seed + i`) or one seed per prompt. With a `prefix_cache` and one key per prompt,
    a prompt that extends the key's previous prompt computes only its new tokens.
    A prompt that fills the model's context window gets a `Generation` with `error` set.
    """
    if max_new_tokens < 1 or batch_size < 1:
        raise ValueError("max_new_tokens and batch_size must be >= 1")
    seeds = [seed + i for i in range(len(prompts))] if isinstance(seed, int) else list(seed)
    keys = list(prefix_keys) if prefix_cache is not None and prefix_keys is not None else None
    if len(seeds) != len(prompts) or (keys is not None and len(keys) != len(prompts)):
        raise ValueError(f"give one seed and one prefix key per prompt ({len(prompts)})")
    settings = _Settings(
        max_new_tokens, stop_at_newline, tuple(stop_strings), calculator, temperature, top_p
    )
    decoder, window = _Decoder(model, tokenizer), _context_window(model)
    rows = []
    for i, prompt in enumerate(prompts):
        encoded = tokenizer(prompt)["input_ids"]
        limit = max_new_tokens if window is None else min(max_new_tokens, window - len(encoded))
        row = _Row(prompt=encoded, seed=seeds[i], limit=limit)
        if not encoded or limit < 1:
            row.error = f"prompt of {len(encoded)} tokens leaves no room to generate" + (
                f" in the context window ({window} tokens)" if window else "")
        if keys is not None:
            row.key = keys[i]
            row.reuse, row.past = prefix_cache.lookup(row.key, encoded)
        rows.append(row)
    store = prefix_cache if keys is not None else None
    # Longest first: similar lengths are prefilled together (little padding), and memory
    # peaks early.
    order = sorted((i for i, row in enumerate(rows) if row.error is None),
                   key=lambda i: -(len(rows[i].prompt) - rows[i].reuse))
    model.eval()
    # The cache's buffers are recycled for the next call (`buffers`): _remember copies.
    with torch.inference_mode(), buffers.recycling(model.device):
        _decode(model, decoder, deque(rows[i] for i in order), settings, store, batch_size)
    results = []
    for row in rows:
        if row.error is not None:
            results.append(Generation("", len(row.prompt), 0, "error", row.error))
            continue
        text, cut = truncate_at_stop(decoder.decode(row.ids), stop_at_newline, stop_strings)
        reason = cut or row.reason or "length"
        results.append(Generation(text, len(row.prompt), row.generated, reason))
    return results


def generate_naive(
    model: Any, tokenizer: Any, prompts: Sequence[str], **settings: Any
) -> list[Generation]:
    """The reference: the same decoding, one prompt at a time (same seeds, same prefix keys)."""
    seed = settings.pop("seed", 0)
    keys = settings.pop("prefix_keys", None) or [None] * len(prompts)
    settings.pop("batch_size", None)
    seeds = [seed + i for i in range(len(prompts))] if isinstance(seed, int) else list(seed)
    return [
        generate(model, tokenizer, [prompt], seed=[row_seed], batch_size=1,
                 prefix_keys=[key], **settings)[0]
        for prompt, row_seed, key in zip(prompts, seeds, keys, strict=True)
    ]


def hf_generator(model: Any, tokenizer: Any, naive: bool = False) -> GenerateFn:
    """`generate` bound to a model: the backend signature that solvers call.

    On a CPU the model's linear layers are routed through oneDNN (`onednn.route_linears`),
    2-2.5x faster than PyTorch's default for the rows of a decoding batch, with each MLP's
    activation computed inside that kernel (`onednn.fuse_activations`), and SDPA attention
    skips the batch's left padding run by run (`attention.install`).
    """
    if model.device.type == "cpu":
        onednn.route_linears(model)
        onednn.fuse_activations(model)
        attention.install(model)
    return partial(generate_naive if naive else generate, model, tokenizer)

"""The verifier at inference: a causal LM trained (task `verifier`) to write `yes` or `no` after
a solution's `Verdict:` line; a solution's score is P(yes) / (P(yes) + P(no)) there.

An LM scoring a label token, rather than a classification head, keeps the verifier a student
like the others: the same models (scratch or pretrained), the same trainer and loss masks,
`from_pretrained` as a causal LM, and a base model that already reads text. One forward pass
per batch scores whole solutions (TinyGSM's outcome verifier scores the same way, per solution),
or, for a verifier trained stepwise, every step of them (the lowest step's is the score).

    scorer = load_scorer("students/verifier")
    scores = scorer([verifier_prompt(question, text) for text in solutions])
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from socratic_distill.errors import UserError
from socratic_distill.formats import VERDICT_WORDS, stepwise_verifier_text
from socratic_distill.methods import VERIFIER_TASK
from socratic_distill.train.outdir import read_student_file

Scorer = Callable[[Sequence[str]], list[float]]


def verdict_token_ids(tokenizer: Any) -> tuple[int, int]:
    """The first tokens of ` yes` and ` no` (as training texts spell them after `Verdict:`)."""
    yes, no = (tokenizer(f" {VERDICT_WORDS[v]}", add_special_tokens=False)["input_ids"][0]
               for v in (True, False))
    if yes == no:
        raise UserError("the verifier's tokenizer gives ` yes` and ` no` the same first token")
    return yes, no


def _verdict_tokens(tokenizer: Any, prompt: str, stepwise: bool, limit: int | None):
    """The token ids a verifier reads for `prompt`, and the indices of the tokens closing each
    `Verdict:` (one, the last token, unless stepwise). A solution that ran past the context
    keeps its end, where the last verdict is."""
    if not stepwise:
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"][-limit if limit else 0:]
        return ids, [len(ids) - 1]
    text, ends = stepwise_verifier_text(prompt)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, stops = encoded["input_ids"], [stop for _, stop in encoded["offset_mapping"]]
    marks = [bisect.bisect_right(stops, end) - 1 for end in ends]  # the token ending the `:`
    cut = max(len(ids) - limit, 0) if limit else 0
    return ids[cut:], [mark - cut for mark in marks if mark >= cut]


def hf_scorer(model: Any, tokenizer: Any, batch_size: int = 16, stepwise: bool = False) -> Scorer:
    """Score prompts (each ending in `Verdict:`) in batches of similar length, left-padded so
    that every row's last position is its own last token. `stepwise`: a verdict after each
    step (`formats.stepwise_verifier_text`), the lowest the score."""
    import torch

    yes, no = verdict_token_ids(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    limit = getattr(model.config, "n_positions", None) or getattr(
        model.config, "max_position_embeddings", None)
    model.eval()

    def score(prompts: Sequence[str]) -> list[float]:
        encoded = [_verdict_tokens(tokenizer, p, stepwise, limit) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i][0]))
        scores = [0.0] * len(prompts)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = max(len(encoded[i][0]) for i in rows)
            ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            marks = []
            for row, i in enumerate(rows):
                tokens, row_marks = encoded[i]
                ids[row, width - len(tokens):] = torch.tensor(tokens)
                mask[row, width - len(tokens):] = 1
                marks.append([width - len(tokens) + mark for mark in row_marks])
            kept = sorted({mark for row_marks in marks for mark in row_marks})
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():  # the logits of the verdict positions alone
                logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                               position_ids=positions.to(model.device),
                               logits_to_keep=torch.tensor(kept, device=model.device)).logits
            pairs = logits[..., [yes, no]].float().softmax(-1)[..., 0]
            column = {mark: index for index, mark in enumerate(kept)}
            for row, (i, row_marks) in enumerate(zip(rows, marks, strict=True)):
                scores[i] = min(pairs[row, column[mark]].item() for mark in row_marks)
        return scores

    return score


def check_verifier(path: str | Path, flag: str = "--verifier") -> dict[str, Any]:
    """The student file of a verifier directory; a solving student there is a UserError."""
    from socratic_distill.infer.run import check_student

    metadata = read_student_file(path, flag)
    check_student(metadata, (VERIFIER_TASK,), flag, path)
    return metadata


def load_scorer(path: str | Path, batch_size: int = 16) -> Scorer:
    """Check and load a trained verifier directory (`train --task verifier`)."""
    import os

    import torch

    from socratic_distill.train import load_trained

    metadata = check_verifier(path)
    model, tokenizer, _ = load_trained(path)
    if torch.cuda.is_available():
        model = model.to(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    return hf_scorer(model, tokenizer, batch_size, stepwise=metadata.get("verdicts") == "steps")

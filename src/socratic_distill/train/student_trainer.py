"""`StudentTrainer`: the HF Trainer, computing only what a completion-only loss needs.

Three departures from the stock Trainer, each measured on SmolLM2-135M on CPU:

1. The LM head runs only at positions whose next token is trained on. Our training sets mask
   the prompt (and, for qg and qa, half of each dialogue): on GSM8K `unified` a third of the
   tokens carry no loss, on `qa` over half. The stock loss still projects every position onto
   the vocabulary and takes an fp32 log-softmax over it; with SmolLM2's 49,152 tokens that was
   a third of a step. A forward pre-hook on the output embeddings keeps only the trained rows;
   the loss is the cross-entropy over those: the same loss and gradients, less work.
2. A right-padded batch goes to the model without its attention mask. Under a causal mask a
   real token only attends to earlier positions, all real, so the mask changes nothing the
   loss reads; without it SDPA takes its causal fast path instead of reading a
   (batch, length, length) mask. The Trainer counts real tokens from the mask before the loss
   is computed, so its token counts stay exact.
3. Batches come from `data.LengthGroupedSampler`, which keeps padding low on small sets too.

A verifier trained on pairs (`verifier_loss: pairs`) uses the same machinery with
`pairwise_verdict_loss`: each row trains only its verdict token, so the hook leaves one logit
row per solution.

The hook runs inside the model's own forward, so DDP, FSDP, LoRA (peft leaves the output
layer alone) and accelerate's autocast see an ordinary forward pass, and the Trainer's own
normalisation (tokens across accumulation steps and devices) applies unchanged because the
loss comes in through `compute_loss_func`.
"""

from __future__ import annotations

from typing import Any

from transformers import Trainer

from socratic_distill.train.data import IGNORE_INDEX, LengthGroupedSampler


def trained_positions(labels: Any) -> Any:
    """(batch, length) booleans: True where the next token's label is trained on."""
    import torch.nn.functional as F

    return F.pad(labels[:, 1:] != IGNORE_INDEX, (0, 1))


def is_right_padded(attention_mask: Any) -> bool:
    """True for a mask whose rows are ones and then only zeros (padding after the text)."""
    if attention_mask is None or attention_mask.dim() != 2:
        return False
    return bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all())


def selected_token_loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
    """Summed cross-entropy of the selected logits, over the trained tokens in the batch."""
    import torch.nn.functional as F

    targets = labels[:, 1:]
    targets = targets[targets != IGNORE_INDEX]
    loss = F.cross_entropy(outputs.logits.float(), targets, reduction="sum")
    return loss / (num_items_in_batch if num_items_in_batch is not None else max(targets.numel(), 1))


def pairwise_verdict_loss(outputs: Any, labels: Any, num_items_in_batch: Any = None, *,
                          verdicts: tuple[int, int]) -> Any:
    """-log sigmoid(margin of the right side - margin of the wrong side), summed over the pairs
    of a `PairCollator` batch (right rows first) and divided by the pairs in the optimiser step.

    A side's margin is logit(` yes`) - logit(` no`) at its one trained position: the log-odds
    whose sigmoid is the score `infer.verifier` reads. Each pair trains two tokens, so half the
    Trainer's token count is the pairs of the whole accumulated step.
    """
    import torch.nn.functional as F

    yes, no = verdicts
    logits = outputs.logits.float()
    right, wrong = (logits[:, yes] - logits[:, no]).chunk(2)
    pairs = num_items_in_batch / 2 if num_items_in_batch is not None else right.numel()
    return F.softplus(wrong - right).sum() / pairs


class StudentTrainer(Trainer):
    def __init__(self, *args: Any, loss_func: Any = selected_token_loss, **kwargs: Any) -> None:
        super().__init__(*args, compute_loss_func=loss_func, **kwargs)
        self._positions = None
        self.model.get_output_embeddings().register_forward_pre_hook(self._keep_trained_positions)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self._positions = trained_positions(inputs["labels"])
        if is_right_padded(inputs.get("attention_mask")):
            inputs = {key: value for key, value in inputs.items() if key != "attention_mask"}
        try:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            self._positions = None

    def _keep_trained_positions(self, module: Any, args: tuple) -> tuple | None:
        if self._positions is None:  # generation or any other forward outside training
            return None
        return (args[0][self._positions],) + args[1:]

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.args.train_sampling_strategy != "group_by_length" or not isinstance(dataset, list):
            return super()._get_train_sampler(train_dataset)
        lengths = [len(feature["input_ids"]) for feature in dataset]
        return LengthGroupedSampler(
            lengths, self.args.train_batch_size * self.args.gradient_accumulation_steps
        )

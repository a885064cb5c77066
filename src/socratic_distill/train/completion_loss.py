"""A Trainer whose language-model head runs only at the positions that carry a loss.

Our training sets mask the prompt (and, for qg and qa, half of each dialogue): on GSM8K
`unified` a third of the tokens carry no loss, on `qa` over half. The stock causal-LM loss
still projects every position onto the whole vocabulary and takes an fp32 log-softmax over it;
with SmolLM2's 49,152-token vocabulary that was a third of a CPU training step. Here a forward
pre-hook on the output embeddings keeps only the hidden states whose next token is trained on,
and the loss is a cross-entropy over those rows alone: the same loss and gradients, less work.

The hook runs inside the model's own forward, so DDP, FSDP, LoRA (peft leaves the output
layer alone) and accelerate's autocast see an ordinary forward pass; the Trainer's own
normalisation (tokens across gradient-accumulation steps and devices) applies unchanged
because the loss comes in through `compute_loss_func`.
"""

from __future__ import annotations

from typing import Any

from transformers import Trainer

from socratic_distill.train.data import IGNORE_INDEX


def trained_positions(labels: Any) -> Any:
    """(batch, length) booleans: True where the next token's label is trained on."""
    import torch.nn.functional as F

    return F.pad(labels[:, 1:] != IGNORE_INDEX, (0, 1))


def selected_token_loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
    """Summed cross-entropy of the selected logits, over the trained tokens in the batch."""
    import torch.nn.functional as F

    targets = labels[:, 1:]
    targets = targets[targets != IGNORE_INDEX]
    loss = F.cross_entropy(outputs.logits.float(), targets, reduction="sum")
    return loss / (num_items_in_batch if num_items_in_batch is not None else max(targets.numel(), 1))


class CompletionLossTrainer(Trainer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, compute_loss_func=selected_token_loss, **kwargs)
        self._positions = None
        self.model.get_output_embeddings().register_forward_pre_hook(self._keep_trained_positions)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        self._positions = trained_positions(inputs["labels"])
        try:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            self._positions = None

    def _keep_trained_positions(self, module: Any, args: tuple) -> tuple | None:
        if self._positions is None:  # generation or any other forward outside training
            return None
        return (args[0][self._positions],) + args[1:]

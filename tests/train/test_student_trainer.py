"""The selected-positions loss equals the stock causal-LM loss, in value and in gradients."""

from __future__ import annotations

import pytest
import torch
from train_helpers import arithmetic_examples
from transformers import TrainingArguments

from socratic_distill.train import load_student
from socratic_distill.train.data import PadCollator, tokenize_examples
from socratic_distill.train.student_trainer import StudentTrainer, is_right_padded, trained_positions


@pytest.fixture
def tiny_batch():
    examples = arithmetic_examples("answer", 6)
    # Uneven prompts and padding: the positions kept differ from row to row.
    examples[0] = examples[0].model_copy(update={"loss_spans": [(10, 20), (30, len(examples[0].text))]})
    model, tokenizer = load_student("scratch:tiny", [example.text for example in examples])
    features, _ = tokenize_examples(examples, tokenizer, 64)
    features[1] = {key: value[:-3] for key, value in features[1].items()}  # a shorter, padded row
    model.eval()  # no dropout: both losses must see the same network
    return model, PadCollator(tokenizer.pad_token_id)(features)


def gradients(model):
    return {name: param.grad.clone() for name, param in model.named_parameters() if param.grad is not None}


def test_loss_and_gradients_match_the_stock_loss(tiny_batch, tmp_path):
    model, batch = tiny_batch
    stock = model(**batch).loss
    stock.backward()
    expected = gradients(model)
    model.zero_grad()

    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    trainer = StudentTrainer(model=model, args=args)
    loss = trainer.compute_loss(model, dict(batch))
    loss.backward()

    assert loss.item() == pytest.approx(stock.item(), rel=1e-5)
    got = gradients(model)
    assert got.keys() == expected.keys()
    for name, grad in expected.items():
        torch.testing.assert_close(got[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_head_sees_only_trained_positions_then_everything_again(tiny_batch, tmp_path):
    model, batch = tiny_batch
    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    trainer = StudentTrainer(model=model, args=args)
    rows = []
    model.get_output_embeddings().register_forward_hook(lambda _module, _inputs, out: rows.append(out.shape))

    trainer.compute_loss(model, dict(batch))
    model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])

    trained = int(trained_positions(batch["labels"]).sum())
    assert 0 < trained < batch["input_ids"].numel()
    assert rows[0][0] == trained  # one row per trained position
    assert rows[1][:2] == batch["input_ids"].shape  # outside compute_loss the head sees all


def test_only_right_padded_masks_are_dropped():
    right = torch.tensor([[1, 1, 1], [1, 1, 0]])
    left = torch.tensor([[1, 1, 1], [0, 1, 1]])
    assert is_right_padded(right)
    assert not is_right_padded(left)  # a left-padded batch keeps its mask
    assert not is_right_padded(None)


def test_the_pairwise_loss_ranks_right_sides_above_wrong_ones():
    from types import SimpleNamespace

    from socratic_distill.train.student_trainer import pairwise_verdict_loss

    yes, no = 3, 5
    logits = torch.zeros(4, 8)  # rows: right of pair 1, right of pair 2, wrong 1, wrong 2
    logits[0, yes], logits[2, no] = 2.0, 1.0  # pair 1: margins 2 against -1
    outputs = SimpleNamespace(logits=logits)
    loss = pairwise_verdict_loss(outputs, None, verdicts=(yes, no))
    pair1, pair2 = torch.nn.functional.softplus(torch.tensor([-3.0, 0.0]))
    assert loss.item() == pytest.approx((pair1 + pair2).item() / 2)
    assert pair2.item() == pytest.approx(torch.log(torch.tensor(2.0)).item())  # a tie: log 2
    # Over an accumulated step of 4 pairs (8 trained tokens) each batch adds its share.
    assert pairwise_verdict_loss(outputs, None, 8, verdicts=(yes, no)).item() == pytest.approx(
        loss.item() / 2)
    swapped = SimpleNamespace(logits=torch.cat([logits[2:], logits[:2]]))
    assert pairwise_verdict_loss(swapped, None, verdicts=(yes, no)) > loss

"""Imbalanced sequence classification with a Hugging Face Trainer and torchfocal.

A Trainer subclass replaces the model's cross-entropy with torchfocal.softmax_focal_loss
and a per-class alpha (Cui et al.'s class-balanced weights of the label counts). The model
is a tiny BERT built from a config, with random weights: nothing is downloaded, and the
token ids are made directly, without a tokenizer. Class 0 is 85% of the data; in a
sequence of class 1 or 2, about half of the words are that class's topic words.

Run: python examples/transformers_trainer.py
"""

from __future__ import annotations

import tempfile
from typing import Any

import torch
from torch import nn
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

import torchfocal

NUM_CLASSES = 3
CLASS_SHARES = (0.85, 0.1, 0.05)
VOCAB_SIZE = 64
LENGTH = 16
CLS_ID = 1  # first token of every sequence; BERT's pooler classifies from it
TOPIC_IDS = {1: torch.arange(2, 6), 2: torch.arange(6, 10)}  # each minority class's own words
FIRST_FILLER_ID = 10  # ids 10..VOCAB_SIZE-1 are common words; 0 stays BERT's padding id


def make_dataset(size: int, seed: int) -> list[dict[str, torch.Tensor]]:
    """Examples as the Trainer's default collator takes them: dicts of tensors.

    Every sequence is common words; in a sequence of class 1 or 2, about half of the words
    are drawn from that class's topic words instead.
    """
    generator = torch.Generator().manual_seed(seed)
    shares = torch.tensor(CLASS_SHARES)
    labels = torch.multinomial(shares, size, replacement=True, generator=generator)
    input_ids = torch.randint(FIRST_FILLER_ID, VOCAB_SIZE, (size, LENGTH), generator=generator)
    for label, words in TOPIC_IDS.items():
        topical = (labels == label).unsqueeze(1) & (
            torch.rand(size, LENGTH, generator=generator) < 0.5
        )
        picks = torch.randint(0, len(words), (size, LENGTH), generator=generator)
        input_ids = torch.where(topical, words[picks], input_ids)
    input_ids[:, 0] = CLS_ID
    return [
        {"input_ids": ids, "labels": label} for ids, label in zip(input_ids, labels, strict=True)
    ]


def tiny_bert() -> BertForSequenceClassification:
    config = BertConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=LENGTH,
        num_labels=NUM_CLASSES,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return BertForSequenceClassification(config)


class FocalLossTrainer(Trainer):
    """A Trainer whose loss is the softmax focal loss of the model's logits."""

    def __init__(self, *args: Any, alpha: torch.Tensor, gamma: float = 2.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.alpha = alpha
        self.gamma = gamma

    # transformers >= 4.46 passes num_items_in_batch: a number where the model's forward takes
    # loss keyword arguments (BERT's does in transformers 5.23, not in 4.46), else None. The
    # default keeps older versions, which do not pass it, working.
    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        labels = inputs.pop("labels")  # without labels the model computes no loss of its own
        outputs = model(**inputs)
        logits = outputs.logits
        alpha = self.alpha.to(logits.device)
        if num_items_in_batch is None:
            # The Trainer divides the loss by gradient_accumulation_steps itself: return the
            # micro-batch's mean, as the model's own cross-entropy would be.
            loss = torchfocal.softmax_focal_loss(logits, labels, alpha=alpha, gamma=self.gamma)
        else:
            # The Trainer counted the labels of every micro-batch of this optimizer step (on
            # every process, with args.average_tokens_across_devices) and does not rescale:
            # each micro-batch's sum over that count adds up to the mean over the step.
            loss = (
                torchfocal.softmax_focal_loss(
                    logits, labels, alpha=alpha, gamma=self.gamma, reduction="sum"
                )
                / num_items_in_batch
            )
            if getattr(self.args, "average_tokens_across_devices", False):
                # The count covers every process and DDP averages the gradients over them.
                loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss


def main(steps: int = 60, seed: int = 0) -> dict[str, float]:
    torch.manual_seed(seed)  # the model's random initial weights
    train, test = make_dataset(2048, seed), make_dataset(512, seed + 1)
    train_labels = torch.stack([example["labels"] for example in train])
    counts = torch.bincount(train_labels, minlength=NUM_CLASSES)
    alpha = torchfocal.class_balanced_weights(counts, beta=0.999)
    print("label counts:", counts.tolist(), " alpha:", [round(a, 3) for a in alpha.tolist()])

    with tempfile.TemporaryDirectory() as output_dir:  # the Trainer's files go here
        args = TrainingArguments(
            output_dir=output_dir,
            max_steps=steps,
            per_device_train_batch_size=32,
            per_device_eval_batch_size=128,
            learning_rate=5e-3,
            logging_steps=10,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=seed,
        )
        trainer = FocalLossTrainer(
            model=tiny_bert(), args=args, train_dataset=train, eval_dataset=test, alpha=alpha
        )
        loss_before = trainer.evaluate()["eval_loss"]
        trainer.train()
        held_out = trainer.predict(test)

    loss_after = held_out.metrics["test_loss"]
    predicted = torch.as_tensor(held_out.predictions).argmax(dim=-1)
    labels = torch.as_tensor(held_out.label_ids)
    recall = [(predicted[labels == c] == c).float().mean().item() for c in range(NUM_CLASSES)]
    print(f"held-out focal loss {loss_before:.4f} -> {loss_after:.4f} after {steps} steps")
    print("held-out recall per class:", [f"{r:.1%}" for r in recall])
    return {"loss_before": loss_before, "loss_after": loss_after, "min_recall": min(recall)}


if __name__ == "__main__":
    main()

"""A tiny fine-tune on the training engine, run by tests/test_distributed.py as 1 or 2 processes.

Usage: `python tests/ddp_worker.py OUT.json [--checkpoints DIR] [--pause-after-epoch S]`, alone
or under `python -m torch.distributed.run --nproc-per-node 2`. The main process writes OUT.json
(history, test metrics and logits); `--pause-after-epoch` sleeps after each epoch's checkpoint
and touches DIR/epoch-<n>, so a test can SIGKILL the run at a known point.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import torch
from helpers import tiny_bert_config, toy_data
from transformers import AutoModelForSequenceClassification

from textdistill import distributed
from textdistill.config import TrainConfig
from textdistill.losses import build_loss
from textdistill.models.classifier import SequenceClassifier
from textdistill.train import EpochRecord, Trainer

# No dropout: with it, the processes' shards draw other masks than one process does, and the
# comparison would measure that instead of the engine.
ENCODER = tiny_bert_config(
    64,
    num_hidden_layers=2,
    max_position_embeddings=32,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
    num_labels=2,
)
CONFIG = TrainConfig(epochs=4, batch_size=16, lr=2e-3, eval_batch_size=8, device="cpu")


@click.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--checkpoints", type=click.Path(path_type=Path), default=None)
@click.option("--pause-after-epoch", type=float, default=0.0)
def main(out: Path, checkpoints: Path | None, pause_after_epoch: float) -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(AutoModelForSequenceClassification.from_config(ENCODER))

    def pause(record: EpochRecord) -> None:
        if pause_after_epoch and checkpoints is not None and distributed.is_main_process():
            (checkpoints / f"epoch-{record.epoch}").touch()
            time.sleep(pause_after_epoch)

    trainer = Trainer(
        model,
        build_loss("ce"),
        CONFIG,
        seed=5,
        checkpoint_dir=checkpoints,
        fingerprint="ddp-worker",
        on_epoch=pause,
    )
    result = trainer.fit(*toy_data())
    if distributed.is_main_process():
        summary = {
            "processes": trainer.processes,
            "resumed_from_epoch": result.resumed_from_epoch,
            "train_samples": result.train_samples,
            "history": [record.row() for record in result.history],
            "test_metrics": result.test_metrics,
            "test_logits": result.test_logits.tolist(),
        }
        out.write_text(json.dumps(summary))
    print(f"rank {trainer.rank} of {trainer.processes} done", file=sys.stderr)


if __name__ == "__main__":
    main()

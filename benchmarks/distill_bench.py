"""Caching in the distillation branch, measured in one run on the quick pipeline's outputs.

1. A student KD epoch (DIST loss) reading cached teacher logits, against the same epoch
   running the teacher (frozen encoder + VDCNN) forward on every batch under no_grad: the
   source's way, minus its worse mistake of keeping gradients on.
2. A teacher (VDCNN) epoch on cached encoder features, against the same epoch recomputing the
   frozen encoder's hidden states for every batch.
3. Building an augmented transfer set (rows and seconds), and each teacher's pass over it (the
   `teacher_logits` stage's work: the VDCNN teacher, and any other given to --pass-teachers) in
   fp32 against bf16, with what bf16 changes in the logits, to choose its precision by measuring.

Both sides of each pair run the same loop, data, batches and optimiser; only where the
teacher logits / features come from differs. Run after `make repro`:

    python benchmarks/distill_bench.py
    python benchmarks/distill_bench.py --device cuda    # the same pairs on a GPU
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from textdistill.config import load_params
from textdistill.data.batching import iterate, train_batches
from textdistill.features import load_features
from textdistill.io import write_json
from textdistill.losses import build_loss
from textdistill.models.cnn import build_student
from textdistill.models.store import EncoderVDCNN, build_model, load_model
from textdistill.results import machine
from textdistill.teaching import (
    build_students_data,
    compute_teacher_logits,
    load_students_data,
    read_logits,
    teacher_texts,
)


def timed_epoch(
    step: Callable[[dict[str, Tensor]], None],
    data,
    batch_size: int,
    repeats: int,
    device: torch.device,
) -> float:
    """Median seconds of one epoch over `repeats` epochs (first one discarded as warm-up)."""
    times = []
    for epoch in range(repeats + 1):
        batches = train_batches(data.lengths, batch_size, seed=0, epoch=epoch, drop_last=True)
        start = time.perf_counter()
        for batch in iterate(data, batches):
            step({name: value.to(device) for name, value in batch.items()})
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2]


def padded(batch: dict[str, Tensor], length: int) -> tuple[Tensor, Tensor]:
    pad = length - batch["input_ids"].shape[1]
    return F.pad(batch["input_ids"], (0, pad)), F.pad(batch["attention_mask"], (0, pad))


def kd_pair(
    transfer: Path,
    logits: Path,
    teacher: EncoderVDCNN,
    batch_size: int,
    repeats: int,
    device: torch.device,
) -> dict[str, Any]:
    meta, data = load_students_data(transfer)
    train = data["transfer"]
    train.extras["teacher_logits"] = read_logits(logits)["transfer"]
    loss = build_loss("dist")
    results = {}
    for mode in ("cached", "live"):
        torch.manual_seed(0)
        student = build_student("simple_cnn", len(meta["classes"])).to(device)
        optimizer = torch.optim.Adam(student.parameters(), lr=1e-3, fused=True)

        def step(batch: dict[str, Tensor], mode=mode, student=student, optimizer=optimizer) -> None:
            if mode == "live":
                with torch.no_grad():
                    target = teacher(*padded(batch, meta["max_length"]))
            else:
                target = batch["teacher_logits"]
            value = loss(
                student(batch["input_ids"], batch["attention_mask"]), batch["labels"], target
            )
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()

        epoch_s = timed_epoch(step, train, batch_size, repeats, device)
        results[f"{mode}_epoch_s"] = round(epoch_s, 3)
    results["speedup"] = round(results["live_epoch_s"] / results["cached_epoch_s"], 2)
    return results


def teacher_pair(
    features: Path,
    teacher: EncoderVDCNN,
    spec: dict,
    batch_size: int,
    repeats: int,
    device: torch.device,
) -> dict[str, Any]:
    meta, data = load_features(features)
    train = data["train"]
    results = {}
    for mode in ("cached", "recomputed"):
        torch.manual_seed(0)
        vdcnn = build_model(spec).to(device).train()
        optimizer = torch.optim.Adam(vdcnn.parameters(), lr=1e-3, fused=True)

        def step(batch: dict[str, Tensor], mode=mode, vdcnn=vdcnn, optimizer=optimizer) -> None:
            ids, mask = padded(batch, meta["max_length"])
            if mode == "recomputed":
                with torch.no_grad():
                    hidden = teacher.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            else:
                hidden = batch["features"]
            value = F.cross_entropy(vdcnn(hidden, mask), batch["labels"])
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()

        epoch_s = timed_epoch(step, train, batch_size, repeats, device)
        results[f"{mode}_epoch_s"] = round(epoch_s, 3)
    results["speedup"] = round(results["recomputed_epoch_s"] / results["cached_epoch_s"], 2)
    return results


def transfer_and_teacher_pass(
    prepared: Path,
    encoder: Path,
    teachers: Sequence[Path],
    samples_per_example: int,
    batch_size: int,
    device: torch.device,
    scratch: Path,
) -> dict[str, Any]:
    """Build a transfer set with `samples_per_example` augmented copies per text, then run each
    saved teacher over it in fp32 and in bf16 (same texts, same batches)."""
    params = load_params()
    config = params.transfer_config().model_copy(
        update={
            "augment": params.transfer_config().augment.model_copy(
                update={"samples_per_example": samples_per_example}
            )
        }
    )
    dataset = params.teacher_config()
    clean = params.prepare_config(dataset.dataset).clean
    built = build_students_data(prepared, encoder, config, clean, dataset.max_length, scratch)
    texts = teacher_texts(scratch, prepared)
    classes = load_students_data(scratch)[0]["classes"]
    return {
        "samples_per_example": samples_per_example,
        "rows": built["rows"],
        "labelled": built["labelled"],
        "build_s": built["seconds"],
        "teacher_texts": sum(len(t) for t in texts.values()),
        "teacher_pass": {
            str(teacher): precision_pair(teacher, texts, batch_size, device, classes)
            for teacher in teachers
        },
    }


def precision_pair(
    teacher: Path,
    texts: dict[str, list[str]],
    batch_size: int,
    device: torch.device,
    classes: Sequence[str],
) -> dict[str, Any]:
    """One teacher's pass in fp32 and in bf16: the speed of each, and what bf16 changes (the
    largest logit difference, and how often the two pick the same class): what choosing the
    `teacher_logits` stage's precision by measuring needs."""
    passes, logits = {}, {}
    for precision in ("fp32", "bf16"):
        outputs, figures = compute_teacher_logits(
            [teacher], texts, batch_size, device, precision, classes
        )
        passes[precision] = {"seconds": figures["seconds"], "texts_per_s": figures["texts_per_s"]}
        logits[precision] = np.concatenate([outputs[name] for name in sorted(outputs)])
    fp32, bf16 = logits["fp32"], logits["bf16"]
    return passes | {
        "bf16_over_fp32_speed": round(
            passes["bf16"]["texts_per_s"] / passes["fp32"]["texts_per_s"], 2
        ),
        "bf16_max_abs_logit_difference": round(float(np.abs(bf16 - fp32).max()), 4),
        "bf16_same_class": round(float((bf16.argmax(1) == fp32.argmax(1)).mean()), 5),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, default=Path("data/features/agnews"))
    parser.add_argument("--transfer", type=Path, default=Path("data/transfer/agnews"))
    parser.add_argument("--logits", type=Path, default=Path("data/logits/agnews"))
    parser.add_argument("--prepared", type=Path, default=Path("data/prepared/agnews"))
    parser.add_argument("--encoder", type=Path, default=Path("models/pretrained/bert"))
    parser.add_argument("--samples-per-example", type=int, default=4)
    parser.add_argument("--teacher", type=Path, default=Path("models/teacher"))
    parser.add_argument(
        "--pass-teachers",
        type=Path,
        nargs="+",
        default=[Path("models/teacher")],
        help="teachers whose pass over the transfer set is timed in fp32 and bf16 (a fine-tuned"
        " encoder too, e.g. models/finetune/bert, when it was fine-tuned on the teacher's dataset)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/distill.json"))
    args = parser.parse_args()
    if not args.teacher.is_dir():
        raise SystemExit(f"{args.teacher} not found: run `make repro` first")
    device = torch.device(args.device)
    teacher, spec, _ = load_model(args.teacher)
    assert isinstance(teacher, EncoderVDCNN)
    teacher.to(device)
    pairs = (args.batch_size, args.repeats, device)
    with tempfile.TemporaryDirectory(prefix="textdistill-transfer-bench-") as scratch:
        transfer = transfer_and_teacher_pass(
            args.prepared,
            args.encoder,
            args.pass_teachers,
            args.samples_per_example,
            256,
            device,
            Path(scratch) / "transfer",
        )
    report = {
        "kd_epoch": kd_pair(args.transfer, args.logits, teacher, *pairs),
        "teacher_epoch": teacher_pair(args.features, teacher, spec, *pairs),
        "transfer": transfer,
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "machine": machine(),
    }
    write_json(args.out, report)
    print(report)


if __name__ == "__main__":
    main()

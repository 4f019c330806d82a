"""VDCNN teacher and the small students: shapes, exact parameter counts, pooling, masking."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from textdistill.errors import ParamsError
from textdistill.models.cnn import (
    STUDENTS,
    BiLSTMClassifier,
    SimpleCNN,
    SimplerCNN,
    StudentParamsError,
    build_student,
    masked_max_pool,
)
from textdistill.models.vdcnn import DEPTH_BLOCKS, VDCNN, kmax_pool

VOCAB = 30522


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv(i: int, o: int, k: int, bias: bool = True) -> int:
    return i * o * k + (o if bias else 0)


def linear(i: int, o: int) -> int:
    return i * o + o


def bn(c: int) -> int:
    return 2 * c  # weight + bias (running stats are buffers)


def vdcnn9_count(input_dim: int, classes: int, shortcut: bool = False) -> int:
    """Hand count: stem, one conv3-BN-conv3-BN block per stage, FC 4096->2048->2048->C."""
    total = conv(input_dim, 64, 3)
    for i, o in [(64, 64), (64, 128), (128, 256), (256, 512)]:
        total += conv(i, o, 3) + bn(o) + conv(o, o, 3) + bn(o)
        if shortcut and i != o:
            total += conv(i, o, 1, bias=False) + bn(o)  # 1x1 projection + BN
    return total + linear(512 * 8, 2048) + linear(2048, 2048) + linear(2048, classes)


# --- VDCNN ----------------------------------------------------------------------------------


@pytest.mark.parametrize("input_dim", [384, 768])
def test_vdcnn9_parameter_count(input_dim: int) -> None:
    assert n_params(VDCNN(4, depth=9, input_dim=input_dim)) == vdcnn9_count(input_dim, 4)


def test_vdcnn9_shortcut_parameter_count() -> None:
    model = VDCNN(4, depth=9, input_dim=384, shortcut=True)
    assert n_params(model) == vdcnn9_count(384, 4, shortcut=True)


@pytest.mark.parametrize("depth", sorted(DEPTH_BLOCKS))
def test_vdcnn_every_depth_runs(depth: int) -> None:
    model = VDCNN(4, depth=depth, input_dim=32)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    assert len(convs) == depth  # the depth counts conv layers: stem + 2 per block
    assert model(torch.randn(2, 64, 32)).shape == (2, 4)


@pytest.mark.parametrize("shortcut", [False, True])
@pytest.mark.parametrize("pooling", ["kmax", "adaptive"])
def test_vdcnn_shortcut_and_pooling_variants_run(shortcut: bool, pooling: str) -> None:
    model = VDCNN(3, depth=17, input_dim=16, shortcut=shortcut, pooling=pooling, fc_dim=64)
    assert model(torch.randn(2, 64, 16)).shape == (2, 3)


@pytest.mark.parametrize("length", [1, 2, 7, 13, 64, 100])
def test_vdcnn_any_length(length: int) -> None:
    model = VDCNN(4, depth=9, input_dim=8, fc_dim=32).eval()
    assert model(torch.randn(2, length, 8)).shape == (2, 4)


def test_vdcnn_token_ids() -> None:
    model = VDCNN(4, depth=9, vocab_size=70, embed_dim=16, fc_dim=32)
    assert model.embedding is not None and model.embedding.padding_idx == 0
    assert model(torch.randint(0, 70, (3, 64))).shape == (3, 4)


def test_vdcnn_validation() -> None:
    with pytest.raises(ValueError, match="9, 17, 29, 49"):
        VDCNN(4, depth=10, input_dim=8)
    with pytest.raises(ValueError, match="exactly one"):
        VDCNN(4, depth=9)
    with pytest.raises(ValueError, match="exactly one"):
        VDCNN(4, depth=9, input_dim=8, vocab_size=10)
    with pytest.raises(ValueError, match="pooling"):
        VDCNN(4, input_dim=8, pooling="avg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(B, L, 8\)"):
        VDCNN(4, input_dim=8, fc_dim=16)(torch.randn(2, 10, 9))


def test_kmax_keeps_temporal_order() -> None:
    x = torch.tensor([[[1.0, 5.0, 2.0, 7.0, 3.0, 0.0]]])
    assert kmax_pool(x, 3).tolist() == [[[5.0, 7.0, 3.0]]]  # not sorted by value: [7, 5, 3]
    # Ties go to earlier positions, deterministically.
    assert kmax_pool(torch.tensor([[[0.0, 4.0, 0.0, 0.0]]]), 2).tolist() == [[[0.0, 4.0]]]


def test_kmax_pads_short_inputs_with_zeros() -> None:
    assert kmax_pool(torch.tensor([[[3.0, 1.0]]]), 4).tolist() == [[[3.0, 1.0, 0.0, 0.0]]]


def test_kmax_differs_from_adaptive_max_pool() -> None:
    x = torch.tensor([[[9.0, 8.0, 7.0, 6.0] + [0.0] * 12]])
    # Adaptive: max of each of 8 windows of 2 steps; k-max: the 8 largest overall.
    assert nn.AdaptiveMaxPool1d(8)(x).tolist() == [[[9.0, 7.0] + [0.0] * 6]]
    assert kmax_pool(x, 8).tolist() == [[[9.0, 8.0, 7.0, 6.0] + [0.0] * 4]]


def _padded_pair(
    make: Callable[[], torch.Tensor], real: int = 40
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two inputs that differ only at padded positions of row 1, and the mask."""
    a = make()
    b = a.clone()
    b[1, real:] = make()[1, real:]
    mask = torch.ones(a.shape[:2], dtype=torch.long)
    mask[1, real:] = 0
    return a, b, mask


@pytest.mark.parametrize("mode", ["features", "ids"])
def test_vdcnn_mask_padding(mode: str) -> None:
    torch.manual_seed(0)
    kwargs = {"input_dim": 16} if mode == "features" else {"vocab_size": 50}
    make = (
        (lambda: torch.randn(2, 64, 16))
        if mode == "features"
        else (lambda: torch.randint(1, 50, (2, 64)))
    )
    a, b, mask = _padded_pair(make)
    masked = VDCNN(4, depth=9, fc_dim=64, **kwargs).eval()
    with torch.no_grad():
        torch.testing.assert_close(masked(a, mask), masked(b, mask))
        masked.mask_padding = False
        assert not torch.allclose(masked(a, mask)[1], masked(b, mask)[1])


def test_vdcnn_gradients_flow() -> None:
    model = VDCNN(4, depth=9, input_dim=16, shortcut=True, fc_dim=64)
    loss = nn.functional.cross_entropy(model(torch.randn(3, 64, 16)), torch.tensor([0, 1, 3]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


# --- students -------------------------------------------------------------------------------


def test_student_parameter_counts() -> None:
    embedding = VOCAB * 128  # 3,906,816
    simple = conv(128, 128, 3) + conv(128, 256, 3) + conv(256, 512, 3) + conv(512, 1024, 3)
    assert n_params(SimpleCNN(4)) == embedding + simple + linear(1024, 4) == 6_026_372
    assert n_params(SimplerCNN(4)) == embedding + conv(128, 128, 3) + linear(128, 4) == 3_956_612
    # LSTM per direction: 4 gates x (W_ih, W_hh) + two bias vectors.
    lstm = 2 * (4 * 128 * (128 + 128) + 2 * 4 * 128)
    assert n_params(BiLSTMClassifier(4)) == embedding + lstm + linear(256, 4) == 4_172_036


@pytest.mark.parametrize("arch", sorted(STUDENTS))
def test_student_shapes_and_embedding(arch: str) -> None:
    model = build_student(arch, 4, vocab_size=100)
    assert model.embedding.padding_idx == 0
    ids = torch.randint(0, 100, (3, 64))
    assert model(ids).shape == (3, 4)
    assert model(ids, torch.ones_like(ids)).shape == (3, 4)


STUDENT_CASES = [
    ("simple_cnn", {}),
    ("simpler_cnn", {}),
    ("bilstm", {"pooling": "max"}),
    ("bilstm", {"pooling": "mean"}),
    ("bilstm", {"pooling": "last"}),
]


@pytest.mark.parametrize(("arch", "params"), STUDENT_CASES)
def test_student_padding_invariance(arch: str, params: dict) -> None:
    """A padded text (junk ids at the pads) scores exactly like the same text unpadded."""
    torch.manual_seed(0)
    model = build_student(arch, 4, vocab_size=100, **params).eval()
    real = torch.randint(1, 100, (1, 23))
    padded = torch.randint(1, 100, (1, 64))
    padded[:, :23] = real
    mask = torch.zeros(1, 64, dtype=torch.long)
    mask[:, :23] = 1
    with torch.no_grad():
        torch.testing.assert_close(model(padded, mask), model(real), rtol=1e-5, atol=1e-6)
        model.mask_padding = False  # the source's behaviour: the pads leak in
        assert not torch.allclose(model(padded, mask), model(real))


@pytest.mark.parametrize(("arch", "params"), STUDENT_CASES)
def test_student_padding_content_ignored_in_batch(arch: str, params: dict) -> None:
    torch.manual_seed(1)
    model = build_student(arch, 4, vocab_size=100, **params).eval()
    a, b, mask = _padded_pair(lambda: torch.randint(1, 100, (2, 64)), real=10)
    with torch.no_grad():
        torch.testing.assert_close(model(a, mask), model(b, mask))


@pytest.mark.parametrize("arch", sorted(STUDENTS))
def test_student_all_padding_row_is_finite(arch: str) -> None:
    model = build_student(arch, 4, vocab_size=100).eval()
    ids = torch.randint(1, 100, (2, 8))
    mask = torch.ones_like(ids)
    mask[1] = 0
    assert torch.isfinite(model(ids, mask)).all()


@pytest.mark.parametrize("arch", sorted(STUDENTS))
def test_student_gradients_flow(arch: str) -> None:
    model = build_student(arch, 4, vocab_size=100)
    ids = torch.randint(1, 100, (3, 16))
    mask = torch.ones_like(ids)
    mask[2, 9:] = 0
    loss = nn.functional.cross_entropy(model(ids, mask), torch.tensor([0, 2, 3]))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    assert model.embedding.weight.grad.abs().sum() > 0


def test_bilstm_rejects_left_padding() -> None:
    model = BiLSTMClassifier(4, vocab_size=100)
    ids = torch.randint(1, 100, (1, 6))
    with pytest.raises(ValueError, match="right-padded"):
        model(ids, torch.tensor([[0, 0, 1, 1, 1, 1]]))


def test_masked_max_pool() -> None:
    x = torch.tensor([[[1.0, 9.0, -2.0]]])
    assert masked_max_pool(x, torch.tensor([[1, 0, 1]])).tolist() == [[1.0]]
    assert masked_max_pool(x, None).tolist() == [[9.0]]
    assert masked_max_pool(x, torch.tensor([[0, 0, 0]])).tolist() == [[0.0]]


def test_build_student_errors() -> None:
    with pytest.raises(StudentParamsError, match="unknown student arch 'resnet'.*simple_cnn"):
        build_student("resnet", 4)
    with pytest.raises(ValueError, match="unknown parameter.*hidden_dim.*allowed:.*channels"):
        build_student("simple_cnn", 4, hidden_dim=3)
    with pytest.raises(ValueError, match="channels"):
        build_student("simpler_cnn", 4, channels=[])
    with pytest.raises(ValueError, match="pooling"):
        build_student("bilstm", 4, pooling="attention")
    with pytest.raises(ValueError, match="num_classes"):
        build_student("bilstm", 1)
    with pytest.raises(ParamsError, match="embed_dim"):
        build_student("simple_cnn", 4, embed_dim=0)
    model = build_student("simpler_cnn", 2, channels=[32], embed_dim=8, vocab_size=50)
    assert n_params(model) == 50 * 8 + conv(8, 32, 3) + linear(32, 2)

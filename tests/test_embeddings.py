"""Student embeddings initialised from a teacher's word embeddings by PCA, trainable or frozen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from transformers import BertConfig, BertForSequenceClassification, BertModel, GPT2Config, GPT2Model

from textdistill.models.cnn import (
    BiLSTMClassifier,
    EmbeddingStudent,
    SimpleCNN,
    SimplerCNN,
    StudentParamsError,
    build_student,
)
from textdistill.models.embeddings import (
    SHARD_INDEX,
    _model_word_embeddings,
    _stored_word_embeddings,
    encoder_word_embeddings,
    init_student_embedding,
    pca_project,
    teacher_embedding,
)
from textdistill.models.pretrained import EncoderError

VOCAB, WIDTH, DIM = 50, 32, 8
TOY: dict[str, dict[str, Any]] = {  # toy students: tiny vocabulary and widths
    "simple_cnn": {"vocab_size": VOCAB, "embed_dim": DIM, "channels": [8, 8]},
    "simpler_cnn": {"vocab_size": VOCAB, "embed_dim": DIM, "channels": [8]},
    "bilstm": {"vocab_size": VOCAB, "embed_dim": DIM, "hidden_size": 4},
}


def clustered(seed: int = 0) -> Tensor:
    """50 x 32 embeddings: 10 clusters of 5 rows; structure in an 8-d subspace, plus noise."""
    g = torch.Generator().manual_seed(seed)
    centres = 4 * torch.randn(10, DIM, generator=g)
    latent = centres.repeat_interleave(5, dim=0) + torch.randn(VOCAB, DIM, generator=g)
    lift = torch.randn(DIM, WIDTH, generator=g) / DIM**0.5
    noise = 0.05 * torch.randn(VOCAB, WIDTH, generator=g)
    return latent @ lift + noise + 0.3  # an offset: PCA must centre


def nearest_by_cosine(x: Tensor) -> Tensor:
    unit = F.normalize(x.double(), dim=1)
    similarity = unit @ unit.T
    similarity.fill_diagonal_(-2.0)
    return similarity.argmax(dim=1)


def centred(x: Tensor) -> Tensor:
    return x - x.mean(dim=0, keepdim=True)


# --- pca_project ----------------------------------------------------------------------------


def test_pca_keeps_the_nearest_neighbours_of_a_clustered_vocabulary() -> None:
    weights = clustered()
    before = nearest_by_cosine(centred(weights))
    kept = (nearest_by_cosine(pca_project(weights, DIM)) == before).float().mean().item()
    assert kept >= 0.9
    # Control: the 8 *least* varying directions lose the structure, so the check can fail.
    _, _, vh = torch.linalg.svd(centred(weights), full_matrices=False)
    worst = centred(weights) @ vh[-DIM:].T
    assert (nearest_by_cosine(worst) == before).float().mean().item() < 0.5


def test_pca_of_a_rank_dim_matrix_keeps_every_cosine() -> None:
    g = torch.Generator().manual_seed(3)
    weights = torch.randn(VOCAB, DIM, generator=g, dtype=torch.float64) @ torch.randn(
        DIM, WIDTH, generator=g, dtype=torch.float64
    )
    unit = F.normalize(centred(weights), dim=1)
    projected = F.normalize(pca_project(weights, DIM).double(), dim=1)
    torch.testing.assert_close(projected @ projected.T, unit @ unit.T, atol=1e-5, rtol=0)


def test_pca_scale_order_and_determinism() -> None:
    weights = clustered()
    y = pca_project(weights, DIM)
    assert y.shape == (VOCAB, DIM) and y.dtype == torch.float32
    # Overall std 1, as nn.Embedding's default N(0, 1) init; columns centred.
    assert y.pow(2).mean().sqrt().item() == pytest.approx(1.0, rel=1e-5)
    assert y.mean(dim=0).abs().max().item() < 1e-5
    variances = y.var(dim=0)
    assert bool((variances[:-1] >= variances[1:]).all()), "components by decreasing variance"
    assert variances[0] > 2 * variances[-1], "one scale for all components: no whitening"
    # Same result for a rescaled matrix, and for its float64 copy (signs are fixed).
    torch.testing.assert_close(pca_project(7.0 * weights, DIM), y, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pca_project(weights.double(), DIM), y, atol=1e-5, rtol=1e-5)


def test_pca_equals_the_svd_projection() -> None:
    """The components are X's top right singular vectors: Y = U S (signs as fixed), scaled."""
    weights = clustered()
    u, s, vh = torch.linalg.svd(centred(weights).double(), full_matrices=False)
    largest = vh[:DIM].abs().argmax(dim=1, keepdim=True)
    reference = (u[:, :DIM] * s[:DIM]) * torch.sign(vh[:DIM].gather(1, largest)).T
    reference = reference / reference.pow(2).mean().sqrt()
    torch.testing.assert_close(pca_project(weights, DIM).double(), reference, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dim", [0, 33, 2.0, True])
def test_pca_rejects_bad_dims(dim: object) -> None:
    with pytest.raises(ValueError, match="dim must be an integer in"):
        pca_project(clustered(), dim)  # type: ignore[arg-type]


def test_pca_rejects_bad_matrices() -> None:
    with pytest.raises(ValueError, match="no variance"):
        pca_project(torch.ones(10, 4), 2)
    with pytest.raises(ValueError, match="float"):
        pca_project(torch.ones(10, 4, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="NaN"):
        pca_project(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), 1)


# --- teacher_embedding: a tiny saved BERT as the encoder ------------------------------------


def tiny_bert_config(vocab: int = VOCAB, width: int = WIDTH, pad_token_id: int = 0) -> BertConfig:
    return BertConfig(
        vocab_size=vocab,
        hidden_size=width,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
        pad_token_id=pad_token_id,
    )


def save_encoder(path: Path, weights: Tensor, pad_token_id: int = 0) -> Path:
    model = BertModel(tiny_bert_config(weights.shape[0], weights.shape[1], pad_token_id))
    with torch.no_grad():
        model.get_input_embeddings().weight.copy_(weights)
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_encoder(tmp_path_factory.mktemp("encoder"), clustered())


def test_teacher_embedding_projects_real_tokens_and_zeroes_padding(encoder_dir: Path) -> None:
    matrix = teacher_embedding(encoder_dir, DIM)
    assert matrix.shape == (VOCAB, DIM) and matrix.dtype == torch.float32
    assert torch.count_nonzero(matrix[0]) == 0
    # The PCA is fitted on the real tokens only (rows 1..), not on [PAD].
    torch.testing.assert_close(matrix[1:], pca_project(clustered()[1:], DIM))


def test_teacher_embedding_errors(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="no encoder here"):
        teacher_embedding(tmp_path / "missing", DIM)
    other = save_encoder(tmp_path / "pad1", clustered(), pad_token_id=1)
    with pytest.raises(EncoderError, match="pads with id 1"):
        teacher_embedding(other, DIM)


def test_word_embeddings_read_from_the_checkpoint_are_the_models(
    encoder_dir: Path, tmp_path: Path
) -> None:
    """The safetensors fast path gives exactly what the loaded model holds: bare encoder, with a
    task head (prefixed names), and sharded across files."""
    headed = tmp_path / "headed"
    BertForSequenceClassification(tiny_bert_config()).save_pretrained(headed)
    sharded = tmp_path / "sharded"
    BertModel(tiny_bert_config()).save_pretrained(sharded, max_shard_size="4KB")
    assert (sharded / SHARD_INDEX).is_file()
    for directory in (encoder_dir, headed, sharded):
        stored = _stored_word_embeddings(directory, VOCAB)
        assert stored is not None, directory
        torch.testing.assert_close(stored, _model_word_embeddings(directory), rtol=0, atol=0)
        torch.testing.assert_close(encoder_word_embeddings(directory), stored, rtol=0, atol=0)
    assert _stored_word_embeddings(encoder_dir, VOCAB + 1) is None  # rows must match vocab_size


def test_word_embeddings_of_another_architecture_come_from_its_model(tmp_path: Path) -> None:
    """No `*word_embeddings.weight` in the checkpoint (GPT-2 calls it `wte`): the model's own
    loader finds the input embeddings."""
    config = GPT2Config(vocab_size=VOCAB, n_embd=WIDTH, n_layer=1, n_head=2, n_positions=16)
    model = GPT2Model(config)
    model.save_pretrained(tmp_path)
    assert _stored_word_embeddings(tmp_path, VOCAB) is None
    torch.testing.assert_close(
        encoder_word_embeddings(tmp_path), model.wte.weight.detach(), rtol=0, atol=0
    )
    matrix = teacher_embedding(tmp_path, DIM)
    torch.testing.assert_close(matrix[1:], pca_project(model.wte.weight.detach()[1:], DIM))


def test_teacher_embedding_refuses_an_unreadable_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(EncoderError, match="not a readable JSON config"):
        teacher_embedding(tmp_path, DIM)


# --- students: load_embedding, freezing, padding, mismatches --------------------------------


def toy_batch() -> tuple[Tensor, Tensor, Tensor]:
    ids = torch.tensor([[3, 7, 9, 0], [4, 6, 0, 0], [5, 1, 2, 8]])
    mask = (ids != 0).long()
    return ids, mask, torch.tensor([0, 1, 1])


def step(model: nn.Module) -> None:
    """One Adam step with weight decay on a toy batch (all trainable parameters)."""
    ids, mask, labels = toy_batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.1)
    F.cross_entropy(model(ids, mask), labels).backward()
    optimizer.step()


@pytest.mark.parametrize("arch", sorted(TOY))
def test_load_embedding_copies_the_matrix_and_zeroes_padding(arch: str) -> None:
    model = build_student(arch, 2, embedding_init="teacher_pca", **TOY[arch])
    assert isinstance(model, EmbeddingStudent) and model.needs_embedding
    matrix = torch.randn(VOCAB, DIM)  # row 0 is not zero: the student zeroes it
    model.load_embedding(matrix)
    assert not model.needs_embedding
    assert torch.count_nonzero(model.embedding.weight[0]) == 0
    torch.testing.assert_close(model.embedding.weight[1:], matrix[1:], rtol=0, atol=0)
    assert model.embedding.weight.requires_grad
    # Trainable: a step moves the embedding, but never its padding row.
    before = model.embedding.weight.detach().clone()
    step(model)
    assert not torch.equal(model.embedding.weight, before)
    assert torch.count_nonzero(model.embedding.weight[0]) == 0


@pytest.mark.parametrize("arch", sorted(TOY))
def test_frozen_embedding_is_unchanged_by_an_optimizer_step(arch: str) -> None:
    model = build_student(arch, 2, embedding_init="teacher_pca", freeze_embedding=True, **TOY[arch])
    assert isinstance(model, EmbeddingStudent)
    model.load_embedding(torch.randn(VOCAB, DIM))
    embedding = model.embedding.weight.detach().clone()
    others = {n: p.detach().clone() for n, p in model.named_parameters() if "embedding" not in n}
    step(model)
    assert torch.equal(model.embedding.weight, embedding)
    assert any(not torch.equal(p, others[n]) for n, p in model.named_parameters() if n in others)


def test_freeze_applies_to_a_random_embedding_and_can_be_overridden_at_load() -> None:
    model = SimplerCNN(2, VOCAB, DIM, channels=(4,), freeze_embedding=True)
    assert not model.embedding.weight.requires_grad and not model.needs_embedding
    before = model.embedding.weight.detach().clone()
    step(model)
    assert torch.equal(model.embedding.weight, before)
    model.load_embedding(torch.randn(VOCAB, DIM), freeze=False)
    assert model.embedding.weight.requires_grad and not model.freeze_embedding


@pytest.mark.parametrize("arch", sorted(TOY))
def test_embedding_size_mismatch_is_a_clear_error(arch: str) -> None:
    model = build_student(arch, 2, embedding_init="teacher_pca", **TOY[arch])
    assert isinstance(model, EmbeddingStudent)
    original = model.embedding.weight.detach().clone()
    with pytest.raises(StudentParamsError, match="vocabulary mismatch: the matrix has 30522 rows"):
        model.load_embedding(torch.randn(30522, DIM))
    with pytest.raises(ValueError, match="width mismatch: the matrix has 16 columns"):
        model.load_embedding(torch.randn(VOCAB, 16))
    with pytest.raises(StudentParamsError, match="2-d tensor"):
        model.load_embedding(torch.randn(VOCAB))
    assert torch.equal(model.embedding.weight, original) and model.needs_embedding


def test_bad_embedding_options_are_student_params_errors() -> None:
    with pytest.raises(StudentParamsError, match="embedding_init must be one of random, teacher"):
        build_student("simple_cnn", 2, embedding_init="bert")
    with pytest.raises(StudentParamsError, match="freeze_embedding must be true or false"):
        build_student("bilstm", 2, freeze_embedding="yes")


@pytest.mark.parametrize("arch", sorted(TOY))
def test_embedding_dropout_acts_in_training_only(arch: str) -> None:
    torch.manual_seed(0)
    plain = build_student(arch, 2, **TOY[arch])
    dropped = build_student(arch, 2, embedding_dropout=0.5, **TOY[arch])
    dropped.load_state_dict(plain.state_dict())  # dropout adds no weights: same state dict
    ids, mask, _ = toy_batch()
    plain.eval(), dropped.eval()
    with torch.no_grad():
        torch.testing.assert_close(dropped(ids, mask), plain(ids, mask), rtol=0, atol=0)
        dropped.train()
        torch.manual_seed(1)
        first = dropped(ids, mask)
        assert not torch.allclose(first, plain(ids, mask))
        torch.manual_seed(1)
        torch.testing.assert_close(dropped(ids, mask), first, rtol=0, atol=0)  # seeded


@pytest.mark.parametrize("value", [1.0, -0.1, True, "0.2"])
def test_bad_embedding_dropout_is_a_student_params_error(value: object) -> None:
    with pytest.raises(StudentParamsError, match="embedding_dropout must be"):
        build_student("simpler_cnn", 2, embedding_dropout=value)


def test_existing_positional_constructors_still_work() -> None:
    cnn = SimpleCNN(3, VOCAB, DIM, (4, 4), False)
    lstm = BiLSTMClassifier(3, VOCAB, DIM, 4, 1, "mean", True)
    assert cnn.embedding_init == lstm.embedding_init == "random"
    assert cnn.embedding.weight.requires_grad and lstm.embedding.weight.requires_grad
    assert not cnn.mask_padding and lstm.pooling == "mean"


def test_init_student_embedding_from_an_encoder_dir(encoder_dir: Path) -> None:
    frozen = build_student(
        "bilstm", 2, embedding_init="teacher_pca", freeze_embedding=True, **TOY["bilstm"]
    )
    assert isinstance(frozen, EmbeddingStudent)
    assert init_student_embedding(frozen, encoder_dir)
    torch.testing.assert_close(
        frozen.embedding.weight.detach(), teacher_embedding(encoder_dir, DIM)
    )
    assert not frozen.embedding.weight.requires_grad
    plain = build_student("simpler_cnn", 2, **TOY["simpler_cnn"])
    assert isinstance(plain, EmbeddingStudent)
    before = plain.embedding.weight.detach().clone()
    assert not init_student_embedding(plain, encoder_dir)
    assert torch.equal(plain.embedding.weight, before)
    with pytest.raises(TypeError, match="not a student"):
        init_student_embedding(nn.Linear(2, 2), encoder_dir)

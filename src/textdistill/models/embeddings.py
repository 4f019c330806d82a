"""Student word embeddings initialised from a teacher encoder's, by PCA.

A student (``models.cnn``) with ``embedding_init: teacher_pca`` starts from the encoder's input
word embeddings (WordPiece id -> vector, e.g. 30522 x 384 for all-MiniLM-L6-v2) projected onto
their top principal components, one per student embedding dimension. The student's vocabulary
must be the encoder's (same ids); its padding row (id 0) stays zero.

    matrix = teacher_embedding(Path("models/pretrained/bert"), student.embedding.embedding_dim)
    student.load_embedding(matrix)            # or: init_student_embedding(student, encoder_dir)
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from torch import Tensor, nn

from textdistill.io import read_json
from textdistill.models.cnn import EmbeddingStudent
from textdistill.models.pretrained import CONFIG, WEIGHTS, EncoderError

PADDING_ID = 0  # the students' padding_idx, and [PAD] in the BERT WordPiece vocabulary
# How BERT, DistilBERT, RoBERTa, ELECTRA, DeBERTa and their task heads name the input word
# embeddings in a checkpoint (after any "bert." or "distilbert." prefix).
WORD_EMBEDDINGS = "word_embeddings.weight"
SHARD_INDEX = "model.safetensors.index.json"
# The scale a PCA projection is brought to: the std of nn.Embedding's default N(0, 1) init.
TARGET_STD = 1.0


def pca_project(weights: Tensor, dim: int) -> Tensor:
    """The rows of ``weights`` (n, d) in the basis of their top ``dim`` principal components.

    Centre the columns (in float64) and keep ``Y = X V``, where the columns of ``V`` are the
    top ``dim`` eigenvectors of the (d, d) Gram matrix ``X^T X`` (the right singular vectors
    of ``X``), the components by decreasing variance. Each component's sign is fixed so that
    its largest loading is positive (eigenvector signs are arbitrary; this makes the result
    reproducible).

    Scale: ``Y`` is multiplied by one factor so that its overall std (the root mean square of
    all n x dim entries; every column has mean 0) is ``TARGET_STD`` = 1, the std of a default
    ``nn.Embedding`` init (N(0, 1)), which the students' convolutions and learning rate were
    set for. A single factor keeps the components' relative variances, so cosines, distance
    ratios and nearest neighbours are those of the unscaled projection (whitening each
    component to std 1 would blow up the low-variance, mostly noise, directions).

    Returns a float32 (n, dim) tensor. ``dim`` must be in [1, min(n, d)]; a matrix with no
    variance (all rows equal) is a ValueError.
    """
    if weights.dim() != 2 or not weights.is_floating_point():
        raise ValueError(
            f"weights must be a float (rows, features) matrix, got {tuple(weights.shape)} "
            f"{weights.dtype}"
        )
    rows, features = weights.shape
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= min(rows, features):
        raise ValueError(
            f"dim must be an integer in [1, {min(rows, features)}] for a {rows} x {features} "
            f"matrix, got {dim!r}"
        )
    x = weights.detach().to(device="cpu", dtype=torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise ValueError("weights contain NaN or infinite values")
    x = x - x.mean(dim=0, keepdim=True)
    # A d x d symmetric eigenproblem rather than an SVD of the n x d matrix: the same
    # components, in 0.3 s instead of 1.2 s for 30k x 384 on one thread (and instead of ~6 s
    # when LAPACK's threads compete with another process for the cores).
    _, eigenvectors = torch.linalg.eigh(x.T @ x)  # ascending eigenvalues
    components = eigenvectors[:, -dim:].flip(1).T  # (dim, d), rows are unit principal directions
    largest = components.abs().argmax(dim=1, keepdim=True)
    projected = x @ (components * torch.sign(components.gather(1, largest))).T
    rms = projected.pow(2).mean().sqrt()
    if not bool(rms > 1e-12 * max(1.0, float(x.abs().max()))):
        raise ValueError("weights have no variance to project: every row is the same")
    return (projected * (TARGET_STD / rms)).float()


def teacher_embedding(encoder_dir: Path, dim: int) -> Tensor:
    """The encoder's input word embeddings (vocab, hidden) PCA-projected to (vocab, ``dim``).

    Reads the matrix from the checkpoint (``encoder_word_embeddings``). The padding row (id 0,
    [PAD]) is left out of the PCA fit, which sees only real tokens, and is zero in the result,
    as in a student's ``Embedding(padding_idx=0)``. An encoder whose padding id is not 0 has
    another vocabulary than the students' and is refused.
    """
    weight = encoder_word_embeddings(Path(encoder_dir))
    out = torch.zeros(weight.shape[0], dim, dtype=torch.float32)
    out[PADDING_ID + 1 :] = pca_project(weight[PADDING_ID + 1 :], dim)
    return out


def encoder_word_embeddings(encoder_dir: Path) -> Tensor:
    """The input word-embedding matrix of the encoder saved in ``encoder_dir``.

    Read straight from its safetensors when one tensor named ``*word_embeddings.weight`` with
    ``vocab_size`` rows is there (the BERT family, bare or with a task head, one file or
    sharded); otherwise from ``AutoModel.from_pretrained(use_safetensors=True)`` (no remote
    code), whatever the architecture calls it. Both give the same matrix (tested); the first
    skips building the model, whose classes cost seconds of imports in every student stage.
    """
    config_path = encoder_dir / CONFIG
    if not config_path.is_file():
        raise EncoderError(
            f"{encoder_dir}: no encoder here (no {CONFIG}); run the pretrained stage first"
        )
    try:
        config = read_json(config_path)
    except (OSError, ValueError) as error:
        raise EncoderError(f"{config_path}: not a readable JSON config: {error}") from error
    fields = config if isinstance(config, dict) else {}
    pad = fields.get("pad_token_id")
    if pad not in (None, PADDING_ID):
        raise EncoderError(
            f"{encoder_dir}: the encoder pads with id {pad}, the students with id {PADDING_ID}: "
            "their vocabularies differ"
        )
    vocab_size = fields.get("vocab_size")
    stored = _stored_word_embeddings(encoder_dir, vocab_size)
    return stored if stored is not None else _model_word_embeddings(encoder_dir)


def _stored_word_embeddings(encoder_dir: Path, vocab_size: object) -> Tensor | None:
    """The one ``*word_embeddings.weight`` tensor of ``vocab_size`` rows in the checkpoint
    (``model.safetensors``, or the shard that ``model.safetensors.index.json`` maps it to);
    None when there is not exactly one, or no safetensors to read."""
    index = encoder_dir / SHARD_INDEX
    try:
        if index.is_file():  # sharded: the index names each tensor's file
            weight_map = read_json(index)["weight_map"]
            names = [name for name in weight_map if name.endswith(WORD_EMBEDDINGS)]
            path = encoder_dir / weight_map[names[0]] if len(names) == 1 else None
        else:
            path = encoder_dir / WEIGHTS if (encoder_dir / WEIGHTS).is_file() else None
        if path is None:
            return None
        with safe_open(path, framework="pt") as weights:
            stored = weights.keys()  # a safe_open handle is no mapping: it cannot be iterated
            names = [name for name in stored if name.endswith(WORD_EMBEDDINGS)]
            if len(names) != 1:
                return None
            matrix = weights.get_tensor(names[0])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # not the layout this reads: the model's own loader decides
    if matrix.dim() != 2 or matrix.shape[0] != vocab_size:
        return None
    return matrix


def _model_word_embeddings(encoder_dir: Path) -> Tensor:
    from transformers import AutoModel  # seconds of imports: only when the checkpoint is unusual

    try:
        model = AutoModel.from_pretrained(encoder_dir, use_safetensors=True)
    except (OSError, ValueError) as error:
        raise EncoderError(f"{encoder_dir}: cannot load the encoder: {error}") from error
    embeddings = model.get_input_embeddings()
    if not isinstance(embeddings, nn.Embedding):
        raise EncoderError(f"{encoder_dir}: input embeddings are not an nn.Embedding")
    return embeddings.weight.detach()


def init_student_embedding(model: nn.Module, encoder_dir: Path) -> bool:
    """Apply a student's ``embedding_init``: for ``teacher_pca`` load the encoder's projected
    embeddings (at the student's width, frozen if ``freeze_embedding``); for ``random`` do
    nothing. Returns whether the embedding was loaded.
    """
    if not isinstance(model, EmbeddingStudent):
        raise TypeError(f"{type(model).__name__} is not a student with an embedding_init")
    if model.embedding_init != "teacher_pca":
        return False
    model.load_embedding(teacher_embedding(encoder_dir, model.embedding.embedding_dim))
    return True

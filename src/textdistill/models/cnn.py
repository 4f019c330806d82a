"""Small students of the AG News distillation study (SEEDS.md B), over BERT WordPiece ids.

Every student starts from a randomly initialised ``Embedding(30522, 128, padding_idx=0)``
(the ``bert-base-uncased`` vocabulary; nothing pretrained):

* ``SimpleCNN``:  Conv1d 128->128->256->512->1024 (k=3, p=1, ReLU each), global max-pool over
  time, Linear(1024 -> classes).
* ``SimplerCNN``: Conv1d 128->128 (k=3, p=1, ReLU), global max-pool, Linear(128 -> classes).
* ``BiLSTMClassifier``: BiLSTM(128 -> 2x128, 1 layer) over packed sequences, masked max-pool
  over time (default; "mean" and "last" on offer), Linear(256 -> classes). Not in the source
  study's code; the sources mention (Bi)LSTM baselines (SEEDS.md C).

Padding: the source did not mask. With ``mask_padding=True`` (default) the CNNs zero the padded
positions after the embedding and after every conv and exclude them from the max-pool (-inf),
so a padded text gives exactly the logits of the unpadded text: padding content and padding
length both drop out. The BiLSTM packs the sequences with lengths from the mask (right padding
required). ``mask_padding=False`` reproduces the source. A row with no real token pools to 0.

Embedding init (every student): ``embedding_init="random"`` (default, the source) or
``"teacher_pca"``: the caller loads the teacher encoder's word embeddings PCA-projected to
``embed_dim`` with ``load_embedding(matrix)`` (see ``models.embeddings``; until then the
embedding is random and ``needs_embedding`` is True). ``freeze_embedding=True`` keeps the
embedding fixed during training (no gradient), whichever the init.

``embedding_dropout`` (every student; default 0, the source): dropout on the embedded tokens'
features, in training only (element-wise, as ``nn.Dropout``; no weights, so a saved model
loads with any value). On the real AG News transfer set a student's validation accuracy
peaks within a few epochs and falls while its loss on the teacher's logits keeps falling;
dropping embedding features is the regulariser the real profile measured (its comment).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from textdistill.errors import ParamsError

VOCAB_SIZE = 30522  # bert-base-uncased WordPiece vocabulary
EMBED_DIM = 128
LSTM_POOLINGS = ("max", "mean", "last")
EMBEDDING_INITS = ("random", "teacher_pca")
EmbeddingInit = Literal["random", "teacher_pca"]


class StudentParamsError(ParamsError, ValueError):
    """Unknown student arch or bad student params: a ValueError that stages report cleanly."""


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _num_classes(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {value!r}")
    return value


def _check_inputs(input_ids: Tensor, attention_mask: Tensor | None) -> None:
    if input_ids.dim() != 2 or input_ids.is_floating_point():
        raise ValueError(
            f"expected integer input_ids (B, L), got {tuple(input_ids.shape)} {input_ids.dtype}"
        )
    if attention_mask is not None and attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"attention_mask shape {tuple(attention_mask.shape)} != "
            f"input_ids shape {tuple(input_ids.shape)}"
        )


def masked_max_pool(x: Tensor, mask: Tensor | None) -> Tensor:
    """Max over time of (B, C, L), skipping positions where ``mask`` (B, L) is 0; empty rows: 0."""
    if mask is None:
        return x.amax(dim=-1)
    valid = mask.bool().unsqueeze(1)
    pooled = x.masked_fill(~valid, float("-inf")).amax(dim=-1)
    # All-padding rows would be -inf and poison the linear layer with inf/nan.
    return pooled.masked_fill(~valid.any(dim=-1), 0.0)


class EmbeddingStudent(nn.Module):
    """A student whose first layer is ``self.embedding`` (padding_idx 0), with an init option.

    ``embedding_init``: "random" (nn.Embedding's N(0, 1), padding row 0) or "teacher_pca" (the
    caller then loads a matrix with ``load_embedding``). ``freeze_embedding``: no gradient to
    the embedding, so an optimizer step leaves it unchanged.
    """

    embedding: nn.Embedding

    def _set_embedding_options(
        self, embedding_init: str, freeze_embedding: bool, embedding_dropout: float = 0.0
    ) -> None:
        if isinstance(embedding_dropout, bool) or not isinstance(embedding_dropout, int | float):
            raise ValueError(f"embedding_dropout must be a number, got {embedding_dropout!r}")
        if not 0 <= embedding_dropout < 1:
            raise ValueError(f"embedding_dropout must be in [0, 1), got {embedding_dropout!r}")
        if embedding_init not in EMBEDDING_INITS:
            raise ValueError(
                f"embedding_init must be one of {', '.join(EMBEDDING_INITS)}; "
                f"got {embedding_init!r}"
            )
        if not isinstance(freeze_embedding, bool):
            raise ValueError(f"freeze_embedding must be true or false, got {freeze_embedding!r}")
        self.embedding_init = embedding_init
        self.freeze_embedding = freeze_embedding
        self.embedding.weight.requires_grad_(not freeze_embedding)
        self.embedding_dropout = nn.Dropout(float(embedding_dropout))
        self._embedding_loaded = False

    def embed(self, input_ids: Tensor) -> Tensor:
        """(B, L) ids -> (B, L, embed_dim) features, with ``embedding_dropout`` in training."""
        return self.embedding_dropout(self.embedding(input_ids))

    @property
    def needs_embedding(self) -> bool:
        """Whether ``embedding_init`` is "teacher_pca" and no matrix was loaded yet."""
        return self.embedding_init == "teacher_pca" and not self._embedding_loaded

    def load_embedding(self, matrix: Tensor, freeze: bool | None = None) -> None:
        """Copy ``matrix`` (vocab_size, embed_dim) into the embedding; its padding row is zeroed.

        ``freeze``: keep the embedding fixed in training (default: ``freeze_embedding``).
        A matrix of another vocabulary size or width is a ``StudentParamsError`` (ValueError).
        """
        weight = self.embedding.weight
        if not isinstance(matrix, Tensor) or matrix.dim() != 2:
            raise StudentParamsError(
                f"embedding matrix must be a 2-d tensor, got {type(matrix).__name__}"
                + (f" of shape {tuple(matrix.shape)}" if isinstance(matrix, Tensor) else "")
            )
        vocab, width = weight.shape
        if matrix.shape[0] != vocab:
            raise StudentParamsError(
                f"embedding vocabulary mismatch: the matrix has {matrix.shape[0]} rows, the "
                f"student's vocabulary has {vocab} ids (vocab_size); they must be the "
                "same tokenizer's"
            )
        if matrix.shape[1] != width:
            raise StudentParamsError(
                f"embedding width mismatch: the matrix has {matrix.shape[1]} columns, the "
                f"student's embed_dim is {width}"
            )
        if not matrix.is_floating_point() or not bool(torch.isfinite(matrix).all()):
            raise StudentParamsError("embedding matrix must be finite floating-point values")
        freeze = self.freeze_embedding if freeze is None else freeze
        if not isinstance(freeze, bool):
            raise StudentParamsError(f"freeze must be true or false, got {freeze!r}")
        with torch.no_grad():
            weight.copy_(matrix.to(device=weight.device, dtype=weight.dtype))
            if self.embedding.padding_idx is not None:
                weight[self.embedding.padding_idx].zero_()
        weight.requires_grad_(not freeze)
        self.freeze_embedding = freeze
        self._embedding_loaded = True


class _ConvStudent(EmbeddingStudent):
    """Embedding -> [Conv1d(k=3, p=1) -> ReLU] x n -> global max-pool -> Linear."""

    def __init__(
        self,
        num_classes: int,
        channels: Sequence[int],
        vocab_size: int = VOCAB_SIZE,
        embed_dim: int = EMBED_DIM,
        mask_padding: bool = True,
        embedding_init: EmbeddingInit = "random",
        freeze_embedding: bool = False,
        embedding_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        num_classes = _num_classes(num_classes)
        vocab_size = _positive_int("vocab_size", vocab_size)
        embed_dim = _positive_int("embed_dim", embed_dim)
        if isinstance(channels, str | bytes) or not isinstance(channels, Sequence) or not channels:
            raise ValueError(f"channels must be a non-empty list of integers, got {channels!r}")
        channels = tuple(_positive_int("channels[]", c) for c in channels)
        self.num_classes = num_classes
        self.mask_padding = mask_padding
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self._set_embedding_options(embedding_init, freeze_embedding, embedding_dropout)
        ins = (embed_dim, *channels[:-1])
        self.convs = nn.ModuleList(
            nn.Conv1d(i, o, kernel_size=3, padding=1) for i, o in zip(ins, channels, strict=True)
        )
        self.classifier = nn.Linear(channels[-1], num_classes)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Logits (B, num_classes) from WordPiece ids (B, L) and an optional attention mask."""
        _check_inputs(input_ids, attention_mask)
        mask = attention_mask if self.mask_padding else None
        x = self.embed(input_ids).transpose(1, 2)  # (B, E, L): Conv1d runs over the last dim.
        keep = None if mask is None else mask.unsqueeze(1).to(x.dtype)
        if keep is not None:
            x = x * keep
        for conv in self.convs:
            x = F.relu(conv(x))
            if keep is not None:
                # Re-zero the padding so the next conv sees what conv zero-padding would give on
                # the unpadded text: padded and unpadded inputs get identical logits.
                x = x * keep
        return self.classifier(masked_max_pool(x, mask))


class SimpleCNN(_ConvStudent):
    """The source's "Simple CNN": Conv1d 128->128->256->512->1024, max-pool, Linear(1024->C)."""

    def __init__(
        self,
        num_classes: int,
        vocab_size: int = VOCAB_SIZE,
        embed_dim: int = EMBED_DIM,
        channels: Sequence[int] = (128, 256, 512, 1024),
        mask_padding: bool = True,
        embedding_init: EmbeddingInit = "random",
        freeze_embedding: bool = False,
        embedding_dropout: float = 0.0,
    ) -> None:
        super().__init__(
            num_classes,
            channels,
            vocab_size,
            embed_dim,
            mask_padding,
            embedding_init,
            freeze_embedding,
            embedding_dropout,
        )


class SimplerCNN(_ConvStudent):
    """The source's "Simpler CNN": Conv1d 128->128, max-pool, Linear(128->C)."""

    def __init__(
        self,
        num_classes: int,
        vocab_size: int = VOCAB_SIZE,
        embed_dim: int = EMBED_DIM,
        channels: Sequence[int] = (128,),
        mask_padding: bool = True,
        embedding_init: EmbeddingInit = "random",
        freeze_embedding: bool = False,
        embedding_dropout: float = 0.0,
    ) -> None:
        super().__init__(
            num_classes,
            channels,
            vocab_size,
            embed_dim,
            mask_padding,
            embedding_init,
            freeze_embedding,
            embedding_dropout,
        )


class BiLSTMClassifier(EmbeddingStudent):
    """Embedding -> BiLSTM (packed by the mask's lengths) -> time pooling -> Linear(2h -> C).

    ``pooling``: "max" (default, like the CNN students' global max-pool), "mean" over real
    tokens, or "last" (the final forward and backward states, concatenated).
    """

    def __init__(
        self,
        num_classes: int,
        vocab_size: int = VOCAB_SIZE,
        embed_dim: int = EMBED_DIM,
        hidden_size: int = 128,
        num_layers: int = 1,
        pooling: Literal["max", "mean", "last"] = "max",
        mask_padding: bool = True,
        embedding_init: EmbeddingInit = "random",
        freeze_embedding: bool = False,
        embedding_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        num_classes = _num_classes(num_classes)
        if pooling not in LSTM_POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(LSTM_POOLINGS)}; got {pooling!r}")
        self.num_classes = num_classes
        self.pooling = pooling
        self.mask_padding = mask_padding
        self.embedding = nn.Embedding(
            _positive_int("vocab_size", vocab_size),
            _positive_int("embed_dim", embed_dim),
            padding_idx=0,
        )
        self._set_embedding_options(embedding_init, freeze_embedding, embedding_dropout)
        self.lstm = nn.LSTM(
            embed_dim,
            _positive_int("hidden_size", hidden_size),
            num_layers=_positive_int("num_layers", num_layers),
            batch_first=True,
            bidirectional=True,
        )
        self.classifier = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """Logits (B, num_classes); ``attention_mask`` must be right-padded (1s then 0s)."""
        _check_inputs(input_ids, attention_mask)
        batch, length = input_ids.shape
        steps = torch.arange(length, device=input_ids.device)
        if attention_mask is not None and self.mask_padding:
            lengths = attention_mask.bool().sum(dim=1)
            valid = steps.unsqueeze(0) < lengths.unsqueeze(1)
            if not torch.equal(valid, attention_mask.bool()):
                raise ValueError(
                    "BiLSTMClassifier needs a right-padded attention_mask (1s, then 0s)"
                )
        else:
            lengths = torch.full((batch,), length, device=input_ids.device)
            valid = torch.ones(batch, length, dtype=torch.bool, device=input_ids.device)
        has_tokens = (lengths > 0).unsqueeze(1)

        # pack_padded_sequence rejects length 0; such rows are zeroed after pooling.
        packed = pack_padded_sequence(
            self.embed(input_ids),
            lengths.clamp(min=1).cpu(),
            batch_first=True,
            enforce_sorted=False,
        )
        out, (h_n, _) = self.lstm(packed)
        if self.pooling == "last":
            # h_n[-2]/h_n[-1]: top layer's forward state at the true last token and backward
            # state after reading back to the first token.
            pooled = torch.cat([h_n[-2], h_n[-1]], dim=1)
        else:
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=length)
            if self.pooling == "max":
                pooled = out.masked_fill(~valid.unsqueeze(-1), float("-inf")).amax(dim=1)
            else:
                pooled = (out * valid.unsqueeze(-1)).sum(dim=1)
                pooled = pooled / lengths.clamp(min=1).unsqueeze(1).to(out.dtype)
        return self.classifier(pooled.masked_fill(~has_tokens, 0.0))


STUDENTS: dict[str, type[nn.Module]] = {
    "simple_cnn": SimpleCNN,
    "simpler_cnn": SimplerCNN,
    "bilstm": BiLSTMClassifier,
}


def build_student(arch: str, num_classes: int, **params: Any) -> nn.Module:
    """Instantiate ``STUDENTS[arch](num_classes, **params)``.

    Raises ``StudentParamsError`` (a ``ValueError`` and a ``ParamsError``) naming the unknown
    arch, the unknown parameter(s) with the allowed ones, or the bad value.
    """
    if arch not in STUDENTS:
        raise StudentParamsError(
            f"unknown student arch {arch!r}; expected one of: {', '.join(STUDENTS)}"
        )
    cls = STUDENTS[arch]
    allowed = [name for name in inspect.signature(cls).parameters if name != "num_classes"]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise StudentParamsError(
            f"unknown parameter(s) for student {arch!r}: {', '.join(unknown)}; "
            f"allowed: {', '.join(allowed)}"
        )
    try:
        return cls(num_classes=num_classes, **params)
    except (TypeError, ValueError) as error:
        raise StudentParamsError(f"bad parameters for student {arch!r}: {error}") from error

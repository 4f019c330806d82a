"""VDCNN (Conneau et al. 2017) and the BERT-VDCNN teacher of the AG News study (SEEDS.md B).

Architecture (depth = number of conv layers, the FC head not counted):

    input  (a) encoder hidden states (B, L, H) -> transposed to (B, H, L)   [BERT-VDCNN teacher]
           (b) token ids (B, L) -> Embedding(vocab, embed_dim, padding_idx=0) [plain VDCNN]
    Conv1d(in -> 64, k=3, p=1)
    stage 64  : n1 x ConvBlock          MaxPool1d(3, 2, 1)
    stage 128 : n2 x ConvBlock          MaxPool1d(3, 2, 1)
    stage 256 : n3 x ConvBlock          MaxPool1d(3, 2, 1)
    stage 512 : n4 x ConvBlock
    k-max pooling (k=8) -> flatten 512*k -> FC 512k->fc_dim -> ReLU -> fc_dim->fc_dim -> ReLU
    -> fc_dim->classes

    ConvBlock: conv3-BN-ReLU-conv3-BN-ReLU; the first block of a stage changes the channels.
    (n1, n2, n3, n4) = {9: (1,1,1,1), 17: (2,2,2,2), 29: (5,5,2,2), 49: (8,8,5,3)}[depth]

Differences from the source notebook, all deliberate:

* Pooling: the source used ``AdaptiveMaxPool1d(8)``, which splits time into 8 windows and keeps
  each window's max: a local max per window. Conneau et al. specify k-max pooling: the k largest
  values of each channel over the whole sequence, kept in their temporal order. ``pooling="kmax"``
  (default) does the latter; ``pooling="adaptive"`` reproduces the source.
* Short inputs: when fewer than k time steps remain after the three pools, k-max pooling keeps
  all of them and pads the rest with zeros on the right (the block output is post-ReLU, so zero
  is the smallest value a real activation can take). Every length L >= 1 therefore gives a
  (B, 512, k) tensor and the FC head always sees 512*k features.
* Padding: the source ignored the attention mask. With ``mask_padding=True`` the features (or
  embeddings) at padded positions are zeroed before the first conv, so the logits do not depend
  on what sits at padded positions. They still depend on how many padded positions there are
  (the convs see zeros there); the pipeline pads every text to the same max length anyway.
* Shortcut (off in the source, as in the paper's best depth-9 model): a ResNet basic-block
  residual added after the second BN and before the last ReLU; identity when the channels
  match, else a 1x1 conv + BN projection (Conneau et al. 2017, following He et al. 2016).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DEPTH_BLOCKS: dict[int, tuple[int, int, int, int]] = {
    9: (1, 1, 1, 1),
    17: (2, 2, 2, 2),
    29: (5, 5, 2, 2),
    49: (8, 8, 5, 3),
}
STAGE_CHANNELS: tuple[int, int, int, int] = (64, 128, 256, 512)
POOLINGS = ("kmax", "adaptive")


def kmax_pool(x: Tensor, k: int) -> Tensor:
    """k-max pooling over the last dim: the k largest values per channel, in temporal order.

    (B, C, L) -> (B, C, k). Ties are broken towards earlier positions (a stable sort), so the
    result is deterministic; ReLU outputs tie at zero often. If L < k, all L values are kept and
    zeros are appended on the right.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    length = x.size(-1)
    kept = min(k, length)
    # Stable descending sort rather than topk: topk's order among equal values is unspecified.
    order = torch.sort(x, dim=-1, descending=True, stable=True).indices[..., :kept]
    # Re-sorting the chosen indices restores the original temporal order.
    out = x.gather(-1, order.sort(dim=-1).values)
    if kept < k:
        out = F.pad(out, (0, k - kept))
    return out


class KMaxPool1d(nn.Module):
    """Module form of :func:`kmax_pool`."""

    def __init__(self, k: int) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        return kmax_pool(x, self.k)

    def extra_repr(self) -> str:
        return f"k={self.k}"


class ConvBlock(nn.Module):
    """conv3-BN-ReLU-conv3-BN-ReLU, with an optional residual added before the last ReLU."""

    def __init__(self, in_channels: int, out_channels: int, shortcut: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size=3, padding=1)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.shortcut: nn.Module | None = None
        if shortcut:
            if in_channels == out_channels:
                self.shortcut = nn.Identity()
            else:
                # Projection shortcut; no bias because BN follows.
                self.shortcut = nn.Sequential(
                    nn.Conv1d(in_channels, out_channels, kernel_size=1, bias=False),
                    nn.BatchNorm1d(out_channels),
                )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


class VDCNN(nn.Module):
    """Very deep CNN for text classification; see the module docstring for the architecture.

    Give exactly one of ``input_dim`` (precomputed encoder features (B, L, input_dim): the
    BERT-VDCNN teacher) or ``vocab_size`` (token ids (B, L) through a learned embedding of
    ``embed_dim``: the plain VDCNN baseline; the paper embeds characters in 16 dims).
    """

    def __init__(
        self,
        num_classes: int,
        depth: int = 9,
        input_dim: int | None = None,
        vocab_size: int | None = None,
        embed_dim: int = 16,
        shortcut: bool = False,
        k: int = 8,
        fc_dim: int = 2048,
        pooling: Literal["kmax", "adaptive"] = "kmax",
        mask_padding: bool = True,
    ) -> None:
        super().__init__()
        if depth not in DEPTH_BLOCKS:
            allowed = ", ".join(str(d) for d in DEPTH_BLOCKS)
            raise ValueError(f"VDCNN depth must be one of {allowed}; got {depth!r}")
        if (input_dim is None) == (vocab_size is None):
            raise ValueError(
                "VDCNN needs exactly one of input_dim (encoder features) or vocab_size (token ids)"
            )
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}; got {pooling!r}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
        k = _positive_int("k", k)
        fc_dim = _positive_int("fc_dim", fc_dim)

        self.num_classes = num_classes
        self.depth = depth
        self.k = k
        self.mask_padding = mask_padding
        self.embedding: nn.Embedding | None = None
        if vocab_size is not None:
            vocab_size = _positive_int("vocab_size", vocab_size)
            embed_dim = _positive_int("embed_dim", embed_dim)
            self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
            self.input_dim = embed_dim
        else:
            self.input_dim = _positive_int("input_dim", input_dim)

        self.stem = nn.Conv1d(self.input_dim, STAGE_CHANNELS[0], kernel_size=3, padding=1)
        layers: list[nn.Module] = []
        in_channels = STAGE_CHANNELS[0]
        for stage, (channels, blocks) in enumerate(
            zip(STAGE_CHANNELS, DEPTH_BLOCKS[depth], strict=True)
        ):
            if stage > 0:
                # Halve the time axis between filter stages (3 pools for 4 stages).
                layers.append(nn.MaxPool1d(kernel_size=3, stride=2, padding=1))
            for _ in range(blocks):
                layers.append(ConvBlock(in_channels, channels, shortcut=shortcut))
                in_channels = channels
        self.features = nn.Sequential(*layers)
        self.pool: nn.Module = KMaxPool1d(k) if pooling == "kmax" else nn.AdaptiveMaxPool1d(k)
        self.classifier = nn.Sequential(
            nn.Linear(STAGE_CHANNELS[-1] * k, fc_dim),
            nn.ReLU(),
            nn.Linear(fc_dim, fc_dim),
            nn.ReLU(),
            nn.Linear(fc_dim, num_classes),
        )

    def forward(self, inputs: Tensor, mask: Tensor | None = None) -> Tensor:
        """Logits (B, num_classes) from features (B, L, H) or token ids (B, L).

        ``mask`` (B, L): 1/True at real tokens, 0/False at padding (a tokenizer's attention mask).
        """
        if self.embedding is not None:
            if inputs.dim() != 2 or inputs.is_floating_point():
                raise ValueError(
                    f"VDCNN over token ids expects integer ids (B, L), got "
                    f"{tuple(inputs.shape)} {inputs.dtype}"
                )
            x = self.embedding(inputs)
        else:
            if inputs.dim() != 3 or inputs.size(-1) != self.input_dim:
                raise ValueError(
                    f"VDCNN over features expects (B, L, {self.input_dim}), "
                    f"got {tuple(inputs.shape)}"
                )
            # Features may be cached in half precision to save disk; compute in the model's dtype.
            x = inputs.to(self.stem.weight.dtype)
        if mask is not None and self.mask_padding:
            if mask.shape != inputs.shape[:2]:
                raise ValueError(
                    f"mask shape {tuple(mask.shape)} != inputs (B, L) {tuple(inputs.shape[:2])}"
                )
            x = x * mask.unsqueeze(-1).to(x.dtype)
        x = self.stem(x.transpose(1, 2))  # (B, C, L): Conv1d convolves over the last dim.
        x = self.pool(self.features(x))
        return self.classifier(x.flatten(1))

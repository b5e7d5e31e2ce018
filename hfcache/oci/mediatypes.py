"""ModelPack media types, and which kind of layer a file of a repo is.

Read from modelpack/model-spec (``specs-go/v1/mediatype.go``): a layer is ``weight``,
``weight.config``, ``doc``, ``code`` or ``dataset``, as ``raw`` (one file), ``tar``, or a
compressed tar. Spec v0.0.3-v0.0.6 spelled the prefix ``vnd.cnai`` and the path annotation
``org.cnai.model.filepath``; both are still read. The file patterns follow modctl's
(``pkg/modelfile/constants.go``): matched case-insensitively on the file's base name, config
before weights before code before docs.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass
from enum import Enum

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_LAYOUT_VERSION = "1.0.0"
MODEL_MANIFEST = "application/vnd.cncf.model.manifest.v1+json"
MODEL_CONFIG = "application/vnd.cncf.model.config.v1+json"
LEGACY_MODEL_MANIFEST = "application/vnd.cnai.model.manifest.v1+json"
LEGACY_MODEL_CONFIG = "application/vnd.cnai.model.config.v1+json"
MODEL_CONFIGS = (MODEL_CONFIG, LEGACY_MODEL_CONFIG)

FILEPATH = "org.cncf.model.filepath"
LEGACY_FILEPATH = "org.cnai.model.filepath"
FILE_METADATA = "org.cncf.model.file.metadata+json"
UNTESTED = "org.cncf.model.file.mediatype.untested"
TITLE = "org.opencontainers.image.title"
REF_NAME = "org.opencontainers.image.ref.name"
SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"


class Kind(str, Enum):
    """The spec's layer kinds, in the order modctl lays them out."""

    CONFIG = "weight.config"
    WEIGHT = "weight"
    CODE = "code"
    DOC = "doc"
    DATASET = "dataset"


class Packing(str, Enum):
    RAW = "raw"
    TAR = "tar"
    TAR_GZIP = "tar+gzip"
    TAR_ZSTD = "tar+zstd"


@dataclass(frozen=True)
class LayerType:
    kind: Kind
    packing: Packing
    legacy: bool


_LAYER = re.compile(
    r"application/vnd\.(cncf|cnai)\.model\.(weight\.config|weight|code|doc|dataset)\.v1\.(.+)"
)


def layer_media_type(kind: Kind) -> str:
    """The raw layer media type of ``kind`` (hfcache writes one file per raw layer)."""
    return f"application/vnd.cncf.model.{kind.value}.v1.raw"


def parse_layer_type(media_type: str) -> LayerType | None:
    """The kind and packing a ModelPack layer media type names; ``None`` for any other type."""
    m = _LAYER.fullmatch(media_type)
    if m is None:
        return None
    try:
        packing = Packing(m.group(3))
    except ValueError:
        return None
    return LayerType(Kind(m.group(2)), packing, m.group(1) == "cnai")


_CONFIG = [
    "*.json",
    "*.jsonl",
    "*.json5",
    "*.jsonc",
    "*.yaml",
    "*.yml",
    "*.toml",
    "*.ini",
    "*.config",
    "*.cfg",
    "*.conf",
    "*.properties",
    "*.props",
    "*.prop",
    "*.xml",
    "*.xsd",
    "*.rng",
    "*.modelcard",
    "*tokenizer.model*",
    "*.tiktoken",
    "vocab.txt",
    "merges.txt",
    "added_tokens.txt",
    "spiece.model",
    "sentencepiece*.model",
    "sentencepiece*.vocab",
    "tiktoken.model",
    "chat_template.jinja",
    "config.json.*",
    "*.hparams",
    "*.params",
    "*.hyperparams",
]
_WEIGHT = [
    "*.safetensors",
    "*.bin",
    "*.bin.*",
    "*.pt",
    "*.pth",
    "*.mar",
    "*.pte",
    "*.pt2",
    "*.ptl",
    "*.tflite",
    "*.h5",
    "*.hdf",
    "*.hdf5",
    "*.pb",
    "*.meta",
    "*.data-*",
    "*.index",
    "*.gguf",
    "*.gguf.*",
    "*.ggml",
    "*.ggmf",
    "*.llamafile",
    "*.ckpt",
    "*.onnx",
    "*.onnx_data*",
    "*.msgpack",
    "*.model",
    "*.pkl",
    "*.joblib",
    "*.keras",
    "*.npy",
    "*.npz",
    "*.ot",
    "*.mlmodel",
    "*.caffemodel",
    "*.arrow",
    "*.parquet",
    "*.ftz",
    "*.ark",
    "*.db",
]
_CODE = [
    "*.py",
    "*.pyi",
    "*.ipynb",
    "*.sh",
    "*.bash",
    "*.c",
    "*.cc",
    "*.cpp",
    "*.h",
    "*.hpp",
    "*.cu",
    "*.cuh",
    "*.js",
    "*.ts",
    "*.go",
    "*.rs",
    "*.java",
    "*.rb",
    "*.r",
    "*.jl",
    "*.lua",
    "*.swift",
    "*.kt",
    "*.scala",
    "*.so",
    "*.dll",
    "*.dylib",
    "*.whl",
    "makefile",
    "dockerfile",
    "cmakelists.txt",
    "requirements*.txt",
    "setup.cfg",
    "pyproject.toml",
    "*.patch",
    "*.diff",
]
_DOC = [
    "*.txt",
    "*.md",
    "*.markdown",
    "*.rst",
    "*.pdf",
    "*.html",
    "*.htm",
    "*.doc",
    "*.docx",
    "license*",
    "licence*",
    "readme*",
    "notice*",
    "copying*",
    "authors*",
    "*.png",
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.svg",
    "*.webp",
    "*.bmp",
    "*.mp4",
    "*.webm",
    "*.mp3",
    "*.wav",
]
_DATASET_DOCS = ("*.md", "readme*", "license*", "licence*", "*.png", "*.jpg", "*.jpeg", "*.gif", "*.svg")
BIG_UNKNOWN = 128 * 1024 * 1024
"""modctl's rule for a file no pattern names: bigger than this is a weight, else code."""


def _matches(name: str, patterns: list[str] | tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def classify(path: str, size: int, repo_type: str = "model") -> tuple[Kind, bool]:
    """The layer kind of the file ``path`` (in the repo) of ``size`` bytes, and whether that is a
    guess (the spec's ``mediatype.untested`` annotation): no pattern named it."""
    name = posixpath.basename(path).lower()
    if repo_type == "dataset":
        if _matches(name, _DATASET_DOCS):
            return Kind.DOC, False
        if _matches(name, ("*.py",)):
            return Kind.CODE, False
        return Kind.DATASET, False
    if name.startswith("."):  # .gitattributes and the like: kept, for an exact rebuild
        return Kind.DOC, True
    for kind, patterns in (
        (Kind.CONFIG, _CONFIG),
        (Kind.WEIGHT, _WEIGHT),
        (Kind.CODE, _CODE),
        (Kind.DOC, _DOC),
    ):
        if _matches(name, patterns):
            return kind, False
    return (Kind.WEIGHT if size > BIG_UNKNOWN else Kind.CODE), True

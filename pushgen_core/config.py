"""Settings read from the environment, with defaults that work offline on a laptop.

Every setting has an environment variable (``PUSHGEN_*``) so the app, the CLI and the
tests share one source of truth. ``Settings.from_env()`` is cheap and never touches disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_MODEL = "smollm2-135m"


def _user_dir(env_name: str, fallback: str) -> Path:
    base = os.environ.get(env_name)
    return Path(base) if base else Path.home() / fallback


def default_cache_dir() -> Path:
    return _user_dir("XDG_CACHE_HOME", ".cache") / "pushgen"


def default_data_dir() -> Path:
    return _user_dir("XDG_DATA_HOME", ".local/share") / "pushgen"


@dataclass(frozen=True)
class Settings:
    """Where PushGen reads models and writes labels.

    model: ``smollm2-135m`` (the embedded default), a Hugging Face id already in the
        local cache, or a local folder with a causal LM checkpoint.
    quantization: ``auto`` (4-bit: int4 kernel on CPU, bitsandbytes NF4 on CUDA),
        ``int4``, ``nf4`` or ``none``.
    device: ``auto``, ``cpu`` or ``cuda``.
    """

    model: str = DEFAULT_MODEL
    quantization: str = "auto"
    device: str = "auto"
    cache_dir: Path = field(default_factory=default_cache_dir)
    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str = ""
    taxonomy_path: Path = PACKAGE_DIR / "taxonomy.toml"
    channels_path: Path = PACKAGE_DIR / "channels.toml"
    banned_terms_path: Path = PACKAGE_DIR / "banned_terms.txt"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        defaults = cls()
        data_dir = Path(env.get("PUSHGEN_DATA_DIR", defaults.data_dir))
        return cls(
            model=env.get("PUSHGEN_MODEL", defaults.model),
            quantization=env.get("PUSHGEN_QUANTIZATION", defaults.quantization),
            device=env.get("PUSHGEN_DEVICE", defaults.device),
            cache_dir=Path(env.get("PUSHGEN_CACHE_DIR", defaults.cache_dir)),
            data_dir=data_dir,
            database_url=env.get("PUSHGEN_DATABASE_URL", ""),
            taxonomy_path=Path(env.get("PUSHGEN_TAXONOMY", defaults.taxonomy_path)),
            channels_path=Path(env.get("PUSHGEN_CHANNELS", defaults.channels_path)),
            banned_terms_path=Path(
                env.get("PUSHGEN_BANNED_TERMS", defaults.banned_terms_path)
            ),
        )

    @property
    def resolved_database_url(self) -> str:
        """The label store: ``PUSHGEN_DATABASE_URL`` or SQLite in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'labels.db'}"

    @property
    def model_cache_dir(self) -> Path:
        return self.cache_dir / "models"

    @property
    def reward_dir(self) -> Path:
        """Trained reward model versions and the registry of the active one."""
        return self.data_dir / "reward"

    @property
    def embedding_cache_dir(self) -> Path:
        return self.cache_dir / "embeddings"

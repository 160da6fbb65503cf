"""Content categories, copy styles, channel profiles and banned terms, read from files.

They are data, not code: editors change ``taxonomy.toml``, ``channels.toml`` and
``banned_terms.txt`` (or point ``PUSHGEN_TAXONOMY``, ``PUSHGEN_CHANNELS`` and
``PUSHGEN_BANNED_TERMS`` at their own copies) without touching Python.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pushgen_core.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    title: str
    body: str


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    instruction: str


@dataclass(frozen=True)
class Style:
    id: str
    name: str
    instruction: str
    examples: tuple[Example, ...] = ()


@dataclass(frozen=True)
class Taxonomy:
    categories: dict[str, Category]
    styles: dict[str, Style]

    def category(self, category_id: str) -> Category:
        try:
            return self.categories[category_id]
        except KeyError:
            raise ConfigError(
                f"Unknown category '{category_id}'. "
                f"Choose one of: {', '.join(self.categories)}."
            ) from None

    def style(self, style_id: str) -> Style:
        try:
            return self.styles[style_id]
        except KeyError:
            raise ConfigError(
                f"Unknown style '{style_id}'. Choose one of: {', '.join(self.styles)}."
            ) from None


@dataclass(frozen=True)
class ChannelProfile:
    """Length limits of one push channel, in grapheme clusters and UTF-8 bytes."""

    id: str
    name: str
    title_max: int
    body_max: int
    payload_bytes: int


def _read_toml(path: Path, what: str, env_name: str) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            f"The {what} file {path} does not exist. Fix the path in {env_name} "
            "or unset it to use the built-in file."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The {what} file {path} is not valid TOML: {exc}.") from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"The {what} file {path} is not UTF-8 text; save it as UTF-8."
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the {what} file {path}: {exc.strerror}. Fix the path in "
            f"{env_name}."
        ) from None


def _tables(raw: dict, key: str, path: Path) -> dict[str, dict]:
    """``raw[key]`` as a mapping of id to table; anything else is a ConfigError."""
    tables = raw.get(key, {})
    if not isinstance(tables, dict):
        raise ConfigError(
            f"{path}: '{key}' must be a set of [{key}.<id>] tables, got "
            f"{type(tables).__name__}."
        )
    for table_id, entry in tables.items():
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{path}: '{key}.{table_id}' must be a table with keys such as "
                f"name = ..., got {type(entry).__name__}."
            )
    return tables


def _required_text(entry: dict, key: str, where: str, path: Path) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: [{where}] needs a non-empty text '{key}'.")
    return value.strip()


def load_taxonomy(path: Path) -> Taxonomy:
    """Read and validate a taxonomy file; errors name the table and key at fault."""
    raw = _read_toml(path, "taxonomy", "PUSHGEN_TAXONOMY")
    categories: dict[str, Category] = {}
    for category_id, entry in _tables(raw, "categories", path).items():
        where = f"categories.{category_id}"
        categories[category_id] = Category(
            id=category_id,
            name=_required_text(entry, "name", where, path),
            instruction=_required_text(entry, "instruction", where, path),
        )
    styles: dict[str, Style] = {}
    for style_id, entry in _tables(raw, "styles", path).items():
        where = f"styles.{style_id}"
        examples = []
        raw_examples = entry.get("examples", [])
        if not isinstance(raw_examples, list):
            raise ConfigError(f"{path}: [{where}] 'examples' must be a list.")
        for index, example in enumerate(raw_examples, start=1):
            if not isinstance(example, dict) or not str(example.get("title", "")):
                raise ConfigError(
                    f"{path}: [{where}] example {index} needs a 'title' "
                    "(and optionally a 'body')."
                )
            examples.append(
                Example(str(example["title"]).strip(), str(example.get("body", "")))
            )
        styles[style_id] = Style(
            id=style_id,
            name=_required_text(entry, "name", where, path),
            instruction=_required_text(entry, "instruction", where, path),
            examples=tuple(examples),
        )
    if not categories or not styles:
        raise ConfigError(
            f"{path} must define at least one [categories.<id>] and one "
            "[styles.<id>] table."
        )
    return Taxonomy(categories=categories, styles=styles)


def load_channels(path: Path) -> dict[str, ChannelProfile]:
    """Read and validate channel profiles; every limit must be a positive integer."""
    raw = _read_toml(path, "channels", "PUSHGEN_CHANNELS")
    channels: dict[str, ChannelProfile] = {}
    for channel_id, entry in _tables(raw, "channels", path).items():
        limits = {}
        for key in ("title_max", "body_max", "payload_bytes"):
            value = entry.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(
                    f"{path}: [channels.{channel_id}] '{key}' must be a positive "
                    f"integer, got {value!r}."
                )
            limits[key] = value
        channels[channel_id] = ChannelProfile(
            id=channel_id,
            name=str(entry.get("name", channel_id)),
            **limits,
        )
    if not channels:
        raise ConfigError(f"{path} must define at least one [channels.<id>] table.")
    return channels


def load_banned_terms(path: Path) -> tuple[str, ...]:
    """Banned terms, one per line; blank lines and ``#`` comments are ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(
            f"The banned terms file {path} does not exist. Fix the path in "
            "PUSHGEN_BANNED_TERMS or unset it to use the built-in list."
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"The banned terms file {path} is not UTF-8 text; save it as UTF-8."
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"Cannot read the banned terms file {path}: {exc.strerror}. Fix the path "
            "in PUSHGEN_BANNED_TERMS."
        ) from None
    terms = [line.strip() for line in lines]
    terms = tuple(term for term in terms if term and not term.startswith("#"))
    if not terms:
        logger.warning(
            "The banned terms file %s lists no terms, so no candidate is filtered "
            "for wording. Add terms, one per line, to filter them.",
            path,
        )
    return terms

"""Trained reward model versions, the active one, and the shipped prior.

Layout under ``settings.reward_dir``::

    versions/<version>/model.npz     weights + meta (metrics, counts, encoder, time)
    versions/<version>/metrics.json  the same meta, readable without numpy
    registry.json                    {"active": version or null, "history": [...]}

``history`` is the stack of previously active versions; ``rollback`` pops it. With no
active version (or an unreadable one) the shipped prior in
``pushgen_core/reward/prior/`` is used.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from pushgen_core.errors import PushGenError
from pushgen_core.reward.model import RewardModel, RewardModelFileError

logger = logging.getLogger(__name__)

PRIOR_PATH = Path(__file__).resolve().parent / "prior" / "reward-prior.npz"
PRIOR = "prior"
_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")


class RegistryError(PushGenError):
    """A reward model version cannot be promoted, rolled back or saved."""


def load_prior() -> RewardModel:
    try:
        return RewardModel.load(PRIOR_PATH)
    except RewardModelFileError as exc:
        raise RewardModelFileError(
            f"The shipped reward prior is unusable: {exc} Reinstall PushGen or rebuild "
            "the prior with `python -m pushgen_core reward train --prior`."
        ) from None


class Registry:
    def __init__(self, reward_dir: Path):
        self.dir = Path(reward_dir)
        self.versions_dir = self.dir / "versions"
        self.path = self.dir / "registry.json"

    # State
    def _read(self) -> dict:
        if not self.path.exists():
            return {"active": None, "history": []}
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(state, dict) or not isinstance(
                state.get("history", []), list
            ):
                raise ValueError("not a registry object")
            return {
                "active": state.get("active"),
                "history": list(state.get("history", [])),
            }
        except (OSError, ValueError) as exc:
            raise RegistryError(
                f"The reward registry {self.path} is unreadable ({exc}). Delete it to "
                "go back to the prior, then promote a version again."
            ) from None

    def _write(self, state: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name("registry.json.partial")
        partial.write_text(json.dumps(state, indent=2), encoding="utf-8")
        os.replace(partial, self.path)

    @property
    def active(self) -> str | None:
        return self._read()["active"]

    def model_path(self, version: str) -> Path:
        return self.versions_dir / version / "model.npz"

    # Versions
    def save(self, model: RewardModel) -> Path:
        if not _VERSION_NAME.match(model.version) or model.version == PRIOR:
            raise RegistryError(
                f"{model.version!r} is not a usable version name; use letters, digits, "
                "'.', '-' and '_' (and not 'prior')."
            )
        path = self.model_path(model.version)
        if path.exists():
            raise RegistryError(
                f"Version {model.version} already exists in {self.versions_dir}; pass "
                "another --version name."
            )
        model.save(path)
        (path.parent / "metrics.json").write_text(
            json.dumps(model.describe(), indent=2), encoding="utf-8"
        )
        return path

    def list_versions(self) -> list[dict]:
        """Each saved version's meta (newest first), with ``active`` and ``readable``."""
        active = self._read()["active"]
        rows = []
        for folder in (
            sorted(self.versions_dir.glob("*/")) if self.versions_dir.exists() else []
        ):
            meta_path = folder / "metrics.json"
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = {"version": folder.name}
            meta["version"] = folder.name
            meta["active"] = folder.name == active
            meta["readable"] = (folder / "model.npz").exists()
            rows.append(meta)
        rows.sort(key=lambda m: m.get("created_at", ""), reverse=True)
        return rows

    def promote(self, version: str) -> None:
        if version != PRIOR:
            if not (self.versions_dir / version).is_dir():
                known = [row["version"] for row in self.list_versions()]
                raise RegistryError(
                    f"There is no reward model version named {version!r}. Known: "
                    f"{', '.join(known + [PRIOR])}."
                )
            RewardModel.load(self.model_path(version))  # refuse a broken file
        state = self._read()
        if state["active"] == version:
            return
        state["history"].append(state["active"])
        state["active"] = None if version == PRIOR else version
        self._write(state)
        logger.info("Promoted reward model %s", version)

    def rollback(self) -> str | None:
        """Make the previously active version active again; returns it (None = prior)."""
        state = self._read()
        if not state["history"]:
            raise RegistryError(
                "There is no earlier active reward model to roll back to; promote a "
                "version with `python -m pushgen_core reward promote VERSION`."
            )
        state["active"] = state["history"].pop()
        self._write(state)
        return state["active"]


def load_active_reward_model(settings) -> tuple[RewardModel, str | None]:
    """Active version from settings.reward_dir; falls back to the shipped prior.

    Second item: a warning to show (e.g. corrupted/missing model file -> fell back to
    prior), else None.
    """
    registry = Registry(settings.reward_dir)
    try:
        active = registry.active
    except RegistryError as exc:
        logger.warning("%s Using the shipped prior.", exc)
        return load_prior(), f"{exc} Using the shipped prior reward model meanwhile."
    if not active:
        return load_prior(), None
    try:
        return RewardModel.load(registry.model_path(active)), None
    except RewardModelFileError as exc:
        logger.warning("%s Using the shipped prior.", exc)
        return load_prior(), (
            f"The active reward model {active} could not be loaded, so the shipped "
            f"prior is used. {exc}"
        )


def active_version_token(settings) -> str:
    """A cheap token that changes when a version is promoted or rolled back (or the
    active model file changes), for caches keyed on the active reward model."""
    registry = Registry(settings.reward_dir)
    parts = []
    for path in (registry.path, PRIOR_PATH):
        try:
            parts.append(f"{path.stat().st_mtime_ns}")
        except OSError:
            parts.append("-")
    try:
        active = registry.active
    except RegistryError:
        active = "unreadable"
    if active and active != "unreadable":
        try:
            parts.append(f"{registry.model_path(active).stat().st_mtime_ns}")
        except OSError:
            parts.append("missing")
    return f"{active or PRIOR}:" + ":".join(parts)

"""The reward model: ranks candidates by how likely they are to win an A/B test.

Import-light: names below load their module (and torch, when scoring) on first use.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "RewardModel": "pushgen_core.reward.model",
    "RewardModelFileError": "pushgen_core.reward.model",
    "load_active_reward_model": "pushgen_core.reward.registry",
    "Registry": "pushgen_core.reward.registry",
    "active_version_token": "pushgen_core.reward.registry",
    "select_diverse": "pushgen_core.reward.diversity",
    "surface_features": "pushgen_core.reward.features",
    "add_reward_commands": "pushgen_core.reward.cli",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'pushgen_core.reward' has no attribute {name!r}")

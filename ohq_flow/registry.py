"""Plug-in registries: a name maps to ``"module[:attribute]"``, imported on first use."""

from __future__ import annotations

import importlib


def load(registry: dict[str, str], name: str, kind: str, default_attr: str):
    """The object registered as ``name`` (KeyError naming the registered ones)."""
    if name not in registry:
        raise KeyError(f"unknown {kind} {name!r}; one of: {', '.join(registry)}")
    module, _, attr = registry[name].partition(":")
    return getattr(importlib.import_module(module), attr or default_attr)

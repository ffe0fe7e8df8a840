"""Decision channels: one folder each (``sendopt/channels/<name>/``), found by its ``CHANNEL`` declaration.

Every sub-package of this package whose ``__init__`` defines ``CHANNEL`` (a
:class:`~sendopt.channels.seam.DecisionChannel`) is a channel; :func:`channels` lists them in name order,
then any added with :func:`register` (a plugin, or a test's toy channel). The registry, the config, the
catalog and the lifecycle all read this list, so adding a channel touches its folder and its YAML section.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import pkgutil
from collections.abc import Iterator

from sendopt.channels.seam import DecisionChannel

_registered: list[DecisionChannel] = []


@functools.cache
def _discovered() -> tuple[DecisionChannel, ...]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.ispkg:
            declared = getattr(importlib.import_module(f"{__name__}.{info.name}"), "CHANNEL", None)
            if isinstance(declared, DecisionChannel):
                found.append(declared)
    return tuple(found)


def channels() -> tuple[DecisionChannel, ...]:
    """Every channel: the package's own (by folder name), then the registered ones."""
    return (*_discovered(), *_registered)


@contextlib.contextmanager
def register(channel: DecisionChannel) -> Iterator[DecisionChannel]:
    """Add ``channel`` for the duration of the ``with`` block (names must be unique)."""
    if channel.name in {c.name for c in channels()}:
        raise ValueError(f"a channel named {channel.name!r} is already registered")
    _registered.append(channel)
    try:
        yield channel
    finally:
        _registered.remove(channel)

"""The decision-channel seam: what a channel declares so the rest of sendopt finds it.

A channel is one folder under ``sendopt/channels/<name>/`` whose ``__init__.py`` defines
``CHANNEL = DecisionChannel(...)``: the YAML sections it owns (pydantic models), the module
declaring its catalog tables, its jobs, where its jobs sit in the ``daily`` and ``demo``
pipelines, any pipelines of its own, and its lifecycle adapter. Targets are ``"module:attr"``
strings, so declaring a channel imports nothing heavy (config loading reads these declarations).
"""
from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Where a channel's jobs run inside the shared pipelines, in this order (see ``sendopt.registry``).
STAGES = ("prepare", "models", "decide", "evaluate")


def resolve(target: str) -> Any:
    """``"package.module:attr"`` → the attribute (imported on first use)."""
    module, _, attr = target.partition(":")
    value = importlib.import_module(module)
    return getattr(value, attr) if attr else value


@dataclass(frozen=True)
class JobDef:
    """A job by name: ``target`` is ``"module:function"``, the function takes a ``JobContext``."""

    name: str
    target: str
    help: str
    per_market: bool = False

    def function(self):
        return resolve(self.target)


@dataclass(frozen=True)
class DecisionChannel:
    name: str
    #: top-level config sections the channel owns: YAML key → pydantic model (defaults come from it)
    config: Mapping[str, type]
    #: module whose ``TABLES`` lists the channel's TableSpecs
    tables: str
    jobs: tuple[JobDef, ...]
    #: stage → this channel's jobs in the ``daily`` pipeline (stages: :data:`STAGES`)
    daily: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: stage → this channel's jobs in the ``demo`` pipeline
    demo: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: pipelines of the channel's own, e.g. ``{"email-daily": (...)}``
    pipelines: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: ``"module:Class"`` of its :class:`~sendopt.lifecycle.channels.LifecycleChannel` adapter, if it has models
    lifecycle: str | None = None
    #: ``"module:function"``: ctx → :class:`~sendopt.features.snapshots.SnapshotNeeds`, the feature snapshots
    #: ``build-features`` must write for the channel on ``ctx.run_date``
    feature_snapshots: str | None = None

    def __post_init__(self) -> None:
        names = {j.name for j in self.jobs}
        for kind, stages in (("daily", self.daily), ("demo", self.demo)):
            unknown = set(stages) - set(STAGES)
            if unknown:
                raise ValueError(f"channel {self.name}: {kind} stages {sorted(unknown)} are not in {STAGES}")
            foreign = {j for jobs in stages.values() for j in jobs} - names
            if foreign:
                raise ValueError(f"channel {self.name}: {kind} names jobs it does not declare: {sorted(foreign)}")

    def table_specs(self) -> list:
        return list(resolve(self.tables).TABLES)

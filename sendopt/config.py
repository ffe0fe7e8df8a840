"""Layered YAML configuration: load → deep-merge → validate into typed objects → hash.

Layers, later wins: ``conf/base.yaml`` → ``conf/<env>.yaml`` →
``conf/regions/<region>.yaml`` → ``conf/regions/<region>-<brand>.yaml`` →
``--conf extra.yaml`` files → ``--set a.b=c`` overrides.

Every leaf remembers which layer set it, so a validation error names the file,
the key path and what was expected instead of surfacing a bare traceback.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sendopt.channels.coupons.config import CouponsConfig
from sendopt.channels.email.config import EmailConfig
from sendopt.channels.push.affinity_config import AffinityConfig
from sendopt.channels.push.config import PushConfig
from sendopt.errors import ConfigError
from sendopt.features.registry import FeaturesConfig
from sendopt.lifecycle.config import LifecycleConfig
from sendopt.world.config import WorldConfig

ENVIRONMENTS = ("local", "cluster", "databricks")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UnityCatalogConfig(_Strict):
    """Map ``<layer>.<name>`` to ``<catalog>.<schema_prefix><layer>.<name>`` (Databricks UC)."""

    catalog: str
    schema_prefix: str = "sendopt_"


class LakeConfig(_Strict):
    root: str
    backend: Literal["auto", "embedded", "spark_delta"] = "auto"
    unity_catalog: UnityCatalogConfig | None = None
    commit_retries: int = Field(5, ge=0, le=50)
    vacuum_retention_hours: int = Field(168, ge=0)
    target_file_rows: int = Field(1_000_000, ge=1_000)


class SparkConfig(_Strict):
    master: str | None = "local[*]"
    app_name: str = "sendopt"
    driver_memory: str = "4g"
    shuffle_partitions: int | Literal["auto"] = 8  # "auto": Databricks AQE decides
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "WARN"
    conf: dict[str, str] = Field(default_factory=dict)

    @field_validator("conf", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value


class MlflowConfig(_Strict):
    tracking_uri: str | None = None  # None → sqlite under the lake root
    registry_uri: str | None = None
    experiment: str = "/sendopt"


class LoggingConfig(_Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    progress_interval_s: float = Field(30.0, gt=0)


class Market(_Strict):
    region: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    brand: str = Field(pattern=r"^[A-Za-z0-9_]+$")


class RunConfig(_Strict):
    date: dt.date | None = None
    region: str | None = None
    brand: str | None = None


class SendoptConfig(_Strict):
    env: Literal["local", "cluster", "databricks"]
    lake: LakeConfig
    spark: SparkConfig = SparkConfig()
    mlflow: MlflowConfig = MlflowConfig()
    logging: LoggingConfig = LoggingConfig()
    markets: list[Market] = Field(min_length=1)
    run: RunConfig = RunConfig()
    world: WorldConfig = WorldConfig()
    features: FeaturesConfig = FeaturesConfig()
    email: EmailConfig = EmailConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()
    affinity: AffinityConfig = AffinityConfig()
    push: PushConfig = PushConfig()
    coupons: CouponsConfig = CouponsConfig()

    @property
    def config_hash(self) -> str:
        """Stable 12-hex digest of the merged, validated config (recorded with every output)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


# --------------------------------------------------------------------------- loading


def default_conf_dir() -> Path:
    """``$SENDOPT_CONF_DIR`` or the repository's ``conf/`` beside the package."""
    env = os.environ.get("SENDOPT_CONF_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "conf"


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as text, so a bad date is reported by validation with its file."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def _merge(base: dict, overlay: Mapping, source: str, origin: dict, prefix: tuple = ()) -> None:
    """Deep-merge ``overlay`` into ``base`` in place, recording the source of every key set."""
    for key, value in overlay.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            origin[path] = origin.get(path, source)
            _merge(base[key], value, source, origin, path)
        else:
            base[key] = _copy(value)
            _mark(origin, path, value, source)


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _mark(origin: dict, path: tuple, value: Any, source: str) -> None:
    for stale in [p for p in origin if p[: len(path)] == path]:
        del origin[stale]
    origin[path] = source
    if isinstance(value, Mapping):
        for k, v in value.items():
            _mark(origin, (*path, str(k)), v, source)


#: Config maps whose keys are free-form dotted names (``--set spark.conf.spark.x.y=1``).
_FREE_FORM_MAPS = (("spark", "conf"),)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b=c`` → (["a", "b"], c) with ``c`` parsed as a YAML scalar (so 3 → int, true → bool)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY.PATH=VALUE")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"--set {text!r}: empty key path")
    for prefix in _FREE_FORM_MAPS:  # keys of these maps contain dots themselves
        if tuple(parts[: len(prefix)]) == prefix and len(parts) > len(prefix):
            parts = [*prefix, ".".join(parts[len(prefix) :])]
    try:
        value = yaml.load(raw, Loader=_Loader) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return parts, value


def _nest(parts: list[str], value: Any) -> dict:
    out: Any = value
    for part in reversed(parts):
        out = {part: out}
    return out


def _describe_error(err: dict, origin: dict, layers: list[str]) -> str:
    loc = tuple(str(p) for p in err["loc"])
    path = ".".join(loc) or "<root>"
    source = None
    for n in range(len(loc), 0, -1):
        source = origin.get(loc[:n])
        if source:
            break
    kind = err["type"]
    if kind == "missing":
        where = f"none of [{', '.join(layers)}]"
        return f"{path}: required value missing (set it in {where})"
    if kind == "extra_forbidden":
        return f"{source}: {path}: unknown key (check spelling; see conf/base.yaml for valid keys)"
    got = err.get("input")
    return f"{source or '<defaults>'}: {path}: {err['msg']} (got {got!r})"


class ConfigLoader:
    """Remembers the layers asked for, so per-market configs come from the same sources."""

    def __init__(
        self,
        env: str = "local",
        extra_files: Iterable[str | Path] = (),
        overrides: Iterable[str] = (),
        conf_dir: str | Path | None = None,
    ) -> None:
        if env not in ENVIRONMENTS:
            raise ConfigError(f"--env {env!r}: expected one of {', '.join(ENVIRONMENTS)}")
        self.env = env
        self.conf_dir = Path(conf_dir) if conf_dir else default_conf_dir()
        self.extra_files = [Path(f) for f in extra_files]
        self.overrides = list(overrides)

    def layer_files(self, region: str | None = None, brand: str | None = None) -> list[Path]:
        files = [self.conf_dir / "base.yaml", self.conf_dir / f"{self.env}.yaml"]
        optional = []
        if region:
            optional.append(self.conf_dir / "regions" / f"{region}.yaml")
            if brand:
                optional.append(self.conf_dir / "regions" / f"{region}-{brand}.yaml")
        files += [f for f in optional if f.exists()]
        return files + self.extra_files

    def load(self, region: str | None = None, brand: str | None = None) -> SendoptConfig:
        merged: dict[str, Any] = {}
        origin: dict[tuple, str] = {}
        layers: list[str] = []
        for path in self.layer_files(region, brand):
            _merge(merged, _read_yaml(path), str(path), origin)
            layers.append(str(path))
        _merge(merged, {"env": self.env}, "--env", origin)
        for text in self.overrides:
            parts, value = parse_override(text)
            _merge(merged, _nest(parts, value), f"--set {text}", origin)
        if region or brand:
            _merge(merged, {"run": {"region": region, "brand": brand}}, "--region/--brand", origin)
        try:
            return SendoptConfig.model_validate(merged)
        except ValidationError as exc:
            problems = [_describe_error(e, origin, layers) for e in exc.errors()]
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None


def load_config(
    env: str = "local",
    extra_files: Iterable[str | Path] = (),
    overrides: Iterable[str] = (),
    region: str | None = None,
    brand: str | None = None,
    conf_dir: str | Path | None = None,
) -> SendoptConfig:
    """One-call loader for notebooks and tests."""
    return ConfigLoader(env, extra_files, overrides, conf_dir).load(region, brand)

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
from pydantic import Field, ValidationError, create_model, field_validator

from sendopt.channels import channels
from sendopt.errors import ConfigError
from sendopt.features.registry import FeaturesConfig
from sendopt.lake.config import LakeConfig
from sendopt.lifecycle.config import LifecycleConfig
from sendopt.service.config import ServiceConfig
from sendopt.strict import Strict
from sendopt.world.config import WorldConfig

ENVIRONMENTS = ("local", "cluster", "databricks")


class SparkConfig(Strict):
    master: str | None = None  # None: what spark-submit / the cluster provides (conf/local.yaml: local[*])
    app_name: str = "sendopt"
    driver_memory: str = "4g"
    shuffle_partitions: int | Literal["auto"] = 200  # "auto": Databricks AQE decides
    log_level: Literal["ERROR", "WARN", "INFO", "DEBUG"] = "WARN"
    conf: dict[str, str] = Field(default_factory=dict)

    @field_validator("conf", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value


class MlflowConfig(Strict):
    tracking_uri: str | None = None  # None → sqlite under the lake root
    registry_uri: str | None = None
    experiment: str = "/sendopt"


class LoggingConfig(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    progress_interval_s: float = Field(30.0, gt=0)


class Market(Strict):
    region: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    brand: str = Field(pattern=r"^[A-Za-z0-9_]+$")


class RunConfig(Strict):
    date: dt.date | None = None
    region: str | None = None
    brand: str | None = None


class CoreConfig(Strict):
    """The sections every run has; each channel adds its own (see :func:`config_model`)."""

    env: Literal["local", "cluster", "databricks"]
    lake: LakeConfig
    spark: SparkConfig = SparkConfig()
    mlflow: MlflowConfig = MlflowConfig()
    logging: LoggingConfig = LoggingConfig()
    markets: list[Market] = Field(min_length=1)
    run: RunConfig = RunConfig()
    world: WorldConfig = WorldConfig()
    features: FeaturesConfig = FeaturesConfig()
    lifecycle: LifecycleConfig = LifecycleConfig()
    service: ServiceConfig = ServiceConfig()

    @property
    def config_hash(self) -> str:
        """Stable 12-hex digest of the merged, validated config (recorded with every output)."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]


_models: dict[tuple, type[CoreConfig]] = {}


def config_model() -> type[CoreConfig]:
    """The whole config's model: :class:`CoreConfig` plus every registered channel's sections."""
    sections: dict[str, type] = {}
    for channel in channels():
        for key, model in channel.config.items():
            if key in sections or key in CoreConfig.model_fields:
                raise ConfigError(f"channel {channel.name}: config section {key!r} is already taken")
            sections[key] = model
    key = tuple(sorted((k, id(m)) for k, m in sections.items()))
    if key not in _models:
        _models[key] = create_model("SendoptConfig", __base__=CoreConfig,
                                    **{k: (m, m()) for k, m in sections.items()})
    return _models[key]


#: The model of the package's own channels (type annotations; a registered channel extends it at load).
SendoptConfig = config_model()


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
            return config_model().model_validate(merged)
        except ValidationError as exc:
            problems = [_describe_error(e, origin, layers) for e in exc.errors()]
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from None


#: Keys conf/base.yaml sets as deployment data, not defaults: the models have none (or an empty one).
DEPLOYMENT_KEYS = frozenset({"lake.root", "markets", "push.strategies", "push.utc_offset_hours"})


_REQUIRED = object()


def _defaults_of(model: type[Strict]) -> dict[str, Any]:
    """Every field's default as YAML would state it; a required section recurses into its own fields."""
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if field.is_required():
            kind = field.annotation
            out[name] = _defaults_of(kind) if isinstance(kind, type) and issubclass(kind, Strict) else _REQUIRED
        else:
            value = field.get_default(call_default_factory=True)
            out[name] = value.model_dump(mode="json") if isinstance(value, Strict) else value
    return out


def base_yaml_drift(conf_dir: str | Path | None = None) -> list[str]:
    """Where ``base.yaml`` and the config models disagree: the models hold the defaults, base.yaml states every
    one of them (with its comment) — one source, checked. Returns one line per key that differs or is missing."""
    path = Path(conf_dir or default_conf_dir()) / "base.yaml"
    problems: list[str] = []

    def walk(yaml_value: Any, default: Any, model_field_path: str) -> None:
        if model_field_path in DEPLOYMENT_KEYS:
            return
        if isinstance(default, dict) and isinstance(yaml_value, dict) and default is not _REQUIRED:
            for key in sorted(set(default) | set(yaml_value), key=str):
                sub = f"{model_field_path}.{key}" if model_field_path else str(key)
                if key not in yaml_value:
                    if default[key] is _REQUIRED or sub in DEPLOYMENT_KEYS:
                        continue  # set by an overlay or the CLI (env), or deployment data
                    problems.append(f"{path}: {sub} is missing (the model's default is {default[key]!r})")
                elif key not in default:
                    problems.append(f"{path}: {sub} is not a config key")
                else:
                    walk(yaml_value[key], default[key], sub)
            return
        if default is _REQUIRED:
            return
        as_json = json.loads(json.dumps(default, default=str))
        if yaml_value != as_json and not (isinstance(yaml_value, (int, float)) and yaml_value == default):
            problems.append(f"{path}: {model_field_path} is {yaml_value!r} but the model's default is {as_json!r}")

    walk(_read_yaml(path), _defaults_of(config_model()), "")
    return problems


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

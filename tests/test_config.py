"""Layered config: merge order, overrides, typed validation, and messages that name file and key."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from sendopt.config import ConfigLoader, base_yaml_drift, default_conf_dir, load_config, parse_override
from sendopt.errors import ConfigError


def write(path, text):
    path.write_text(text)
    return path


def test_layers_merge_in_order_and_set_wins(tmp_path):
    conf = tmp_path / "conf"
    (conf / "regions").mkdir(parents=True)
    write(conf / "base.yaml", "lake: {root: /base}\nmarkets: [{region: north, brand: alpha}]\n"
                              "spark: {shuffle_partitions: 10, conf: {a: '1'}}\n")
    write(conf / "local.yaml", "spark: {shuffle_partitions: 4}\n")
    write(conf / "regions" / "north.yaml", "spark: {conf: {b: '2'}}\n")
    write(conf / "regions" / "north-alpha.yaml", "lake: {root: /north-alpha}\n")
    extra = write(tmp_path / "extra.yaml", "world: {users: 42}\n")
    loader = ConfigLoader("local", [extra], ["world.days=30", "spark.conf.spark.x.y=true"], conf)
    base = loader.load()
    assert base.lake.root == "/base" and base.spark.shuffle_partitions == 4
    assert base.world.users == 42 and base.world.days == 30
    assert base.spark.conf == {"a": "1", "spark.x.y": "true"}
    market = loader.load("north", "alpha")
    assert market.lake.root == "/north-alpha" and market.spark.conf["b"] == "2"
    assert market.run.region == "north" and market.config_hash != base.config_hash


def test_repo_conf_validates_for_every_environment():
    for env in ("local", "cluster", "databricks"):
        config = load_config(env)
        assert config.env == env and len(config.config_hash) == 12


def test_config_hash_is_stable_and_sensitive():
    assert load_config("local").config_hash == load_config("local").config_hash
    assert load_config("local").config_hash != load_config("local", overrides=["world.seed=8"]).config_hash


@pytest.mark.parametrize(
    "override, expected",
    [
        ("lake.rooot=/x", "--set lake.rooot=/x: lake.rooot: unknown key"),
        ("world.users=lots", "world.users: Input should be a valid integer"),
        ("world.start_date=2026-02-30", "world.start_date: Input should be a valid date"),
        ("lake.backend=hive", "lake.backend: Input should be 'auto', 'embedded' or 'spark_delta'"),
    ],
)
def test_bad_values_name_the_source_and_key(override, expected):
    with pytest.raises(ConfigError) as err:
        load_config("local", overrides=[override])
    assert expected in str(err.value)


def test_bad_file_is_named(tmp_path):
    bad = write(tmp_path / "bad.yaml", "world:\n  start_date: 2026-13-01\n  userz: 3\n")
    with pytest.raises(ConfigError) as err:
        load_config("local", extra_files=[bad])
    message = str(err.value)
    assert f"{bad}: world.start_date" in message and f"{bad}: world.userz: unknown key" in message


def test_missing_required_value_names_the_layers(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    write(conf / "base.yaml", "markets: [{region: n, brand: a}]\n")
    write(conf / "local.yaml", "")
    with pytest.raises(ConfigError, match=r"lake: required value missing \(set it in none of \[.*base.yaml"):
        ConfigLoader("local", conf_dir=conf).load()


def test_missing_file_and_unknown_env():
    with pytest.raises(ConfigError, match="config file not found: /nope.yaml"):
        load_config("local", extra_files=["/nope.yaml"])
    with pytest.raises(ConfigError, match="--env 'prod'"):
        load_config("prod")


def test_override_parsing():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("run.date=2026-01-02") == (["run", "date"], "2026-01-02")
    assert load_config("local", overrides=["run.date=2026-01-02"]).run.date == dt.date(2026, 1, 2)
    with pytest.raises(ConfigError, match="expected KEY.PATH=VALUE"):
        parse_override("novalue")


def test_base_yaml_states_every_model_default_and_the_check_can_fail(tmp_path):
    assert base_yaml_drift() == []
    text = (default_conf_dir() / "base.yaml").read_text()
    drifted = re.sub(r"(?m)^  radius_km: 20\.0", "  radius_km: 10.0", text)
    drifted = re.sub(r"(?m)^  consent_threshold: .*\n", "", drifted)
    assert drifted != text
    (tmp_path / "base.yaml").write_text(drifted)
    problems = "\n".join(base_yaml_drift(tmp_path))
    assert "push.radius_km is 10.0 but the model's default is 20.0" in problems
    assert "email.consent_threshold is missing" in problems

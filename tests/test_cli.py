"""The CLI runs jobs end to end, records them in the run ledger, and fails with one clear line."""
from __future__ import annotations

import subprocess
import sys

from sendopt.catalog import open_lake
from sendopt.cli import main
from sendopt.registry import JOBS, PIPELINES


def test_help_lists_every_job_and_pipeline():
    out = subprocess.run([sys.executable, "-m", "sendopt.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for name in [*JOBS, *PIPELINES]:
        assert name in out.stdout


def test_every_job_has_an_entry_script_and_resolves():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for name, job in JOBS.items():
        assert (root / "jobs" / f"{name.replace('-', '_')}.py").exists(), name
        assert callable(job.function()), name


def test_job_runs_and_lands_in_the_ledger(spark, lake_config, capsys):
    root = lake_config.lake.root
    assert main(["catalog", "--set", f"lake.root={root}", "--date", "2026-03-01"]) == 0
    assert "ops.job_runs" in capsys.readouterr().out
    ledger = open_lake(spark, lake_config).read("ops.job_runs").collect()
    assert len(ledger) == 1
    row = ledger[0]
    assert row.job == "catalog" and row.status == "succeeded" and str(row.run_date) == "2026-03-01"
    assert row.config_hash and row.code_version.startswith("sendopt")


def test_bad_config_fails_with_one_line(capsys):
    assert main(["catalog", "--set", "lake.backend=nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("FAILED catalog: invalid configuration")
    assert "lake.backend" in err


def test_unknown_market_is_refused(capsys, lake_config):
    code = main(["decide-email", "--set", f"lake.root={lake_config.lake.root}", "--region", "mars"])
    assert code == 2  # a SendoptError: one clear line, not a crash
    assert "FAILED decide-email: --region mars --brand None: not one of the configured markets" in (
        capsys.readouterr().err)


def test_truth_evaluations_skip_loudly_on_a_lake_without_truth(spark, lake_config, caplog):
    root = lake_config.lake.root
    market = ["--region", "north", "--brand", "alpha"]
    for job in ("evaluate-email", "evaluate-push"):
        assert main([job, "--set", f"lake.root={root}", "--date", "2026-03-01", *market]) == 0
    assert main(["evaluate-affinity", "--set", f"lake.root={root}", "--date", "2026-03-01"]) == 0
    rows = open_lake(spark, lake_config).read("ops.job_runs").collect()
    assert {r.job for r in rows} == {"evaluate-email", "evaluate-push", "evaluate-affinity"}
    assert {r.status for r in rows} == {"skipped"}
    assert all("not a generated world" in r.message for r in rows)

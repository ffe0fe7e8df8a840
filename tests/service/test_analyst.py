"""Analysts' side: the notebooks run against a lake (only through sendopt.api), `sendopt sql` over the views."""
from __future__ import annotations

import ast
import runpy
from pathlib import Path

import pytest

from sendopt.cli import main
from sendopt.errors import SendoptError
from sendopt.sql import query
from tests.service.conftest import body, wait_for

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.py"))


def test_notebooks_use_only_the_public_api():
    for path in NOTEBOOKS:
        imported = {n.module for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Import)
                     for a in n.names}
        sendopt = {m for m in imported if m and m.startswith("sendopt")}
        assert sendopt == {"sendopt.api"}, f"{path.name} imports {sendopt}"
        assert path.read_text().splitlines()[0] == "# ---" and "# %%" in path.read_text(), path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(service_env, path, monkeypatch, capsys):
    client, config = service_env[0], service_env[3]
    if path.stem == "promo_plan_review":  # a planned request to review
        code, created = client.call("POST", "/api/promo-requests", body(), headers={"Idempotency-Key": "notebook"})
        assert wait_for(client, created["request_id"])["status"] == "done"
    monkeypatch.setenv("SENDOPT_LAKE_ROOT", config.lake.root)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    if path.stem == "decisions_overview":
        assert "decisions.email_frequency" in out and "emails_per_week" in out
    if path.stem == "promo_plan_review":
        assert "net_revenue" in out


def test_sql_over_catalog_views(service_env, spark, capsys):
    from sendopt.catalog import open_lake

    config = service_env[3]
    lake = open_lake(spark, config)
    rows = query(lake, "select region, count(*) as n from decisions_email_frequency group by region").collect()
    assert [(r["region"], r["n"]) for r in rows] == [("north", 80)]
    with pytest.raises(SendoptError, match="decisions_email_frequency"):
        query(lake, "select * from decisions_nothing")
    assert main(["sql", "select merchant_id, merchant_name from raw_merchants order by merchant_id",
                 "--format", "csv", "--set", f"lake.root={config.lake.root}"]) == 0
    assert "1,Pizza Uno" in capsys.readouterr().out


def test_daily_report_is_one_static_page_listed_by_catalog(service_env, capsys):
    from sendopt.lifecycle.run_report import report_path
    from tests.service.conftest import TODAY

    config = service_env[3]
    args = ["--set", f"lake.root={config.lake.root}", "--date", TODAY.isoformat()]
    assert main(["report", *args]) == 0
    path = report_path(config, TODAY)
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"report: {path}"
    page = Path(path).read_text()
    assert "north / alpha" in page and page.count('<img src="data:image/png;base64,') >= 2
    assert "<h3>Email frequency (2026-03-02)</h3>" in page and "<h3>Push (2026-03-02)</h3>" in page
    assert main(["catalog", *args]) == 0
    assert path in capsys.readouterr().out

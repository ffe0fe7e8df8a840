"""The monitor's HTML report: one self-contained file (plots embedded as PNG) an analyst can open.

Sections: the verdict and its causes, AUC over time, the calibration curve of the latest
matured week, PSI per feature, score drift, and outcomes per net-value bin and per tier.
"""
from __future__ import annotations

import base64
import html
import io
import os

import pandas as pd

from sendopt.features.labels import OUTCOMES


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'


def _table(df: pd.DataFrame, digits: int = 4) -> str:
    if df is None or df.empty:
        return "<p><i>no rows</i></p>"
    return df.to_html(index=False, float_format=lambda v: f"{v:.{digits}f}", border=0, classes="t")


def _auc_plot(history: pd.DataFrame, champion_auc: float | None, auc_drop: float):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 3))
    if "auc" in history and len(history):
        ax.plot(pd.to_datetime(history["week_start"]), history["auc"], marker="o", label="published, matured")
    if champion_auc is not None:
        ax.axhline(champion_auc, color="grey", ls="--", label="champion holdout AUC")
        ax.axhline(champion_auc - auc_drop, color="red", ls=":", label="trigger threshold")
    ax.set_ylabel("macro AUC")
    ax.set_title("AUC over time (outcome week)")
    ax.legend(fontsize=7)
    fig.autofmt_xdate()
    return _png(fig)


def _calibration_plot(reliability: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for ax, (c, name) in zip(axes, [(1, OUTCOMES[1]), (2, OUTCOMES[2])], strict=True):
        r = reliability[reliability["class"] == c]
        top = max(float(r["mean_pred"].max()), float(r["obs_rate"].max()), 1e-3) * 1.1 if len(r) else 1.0
        ax.plot([0, top], [0, top], color="grey", ls="--")
        ax.scatter(r["mean_pred"], r["obs_rate"], s=10 + 200 * r["weight"] / max(r["weight"].sum(), 1))
        ax.set_xlabel(f"predicted P({name})")
        ax.set_ylabel("observed rate")
        ax.set_title(f"calibration: {name}")
    return _png(fig)


def _psi_plot(psi: pd.DataFrame, warn: float, alert: float):
    import matplotlib.pyplot as plt

    top = psi.head(30).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6.5, max(2.0, 0.22 * len(top))))
    colors = ["#c0392b" if s == "alert" else "#e67e22" if s == "warn" else "#2e86c1" for s in top["status"]]
    ax.barh(top["feature"], top["psi"], color=colors)
    ax.axvline(warn, color="#e67e22", ls=":")
    ax.axvline(alert, color="#c0392b", ls="--")
    ax.set_xlabel("PSI vs the champion's training reference")
    ax.tick_params(axis="y", labelsize=7)
    return _png(fig)


def _bins_plot(bins: pd.DataFrame, tiers: pd.DataFrame):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, df, label in ((axes[0], bins, "net-value bin (1 = highest)"), (axes[1], tiers, "emails / week")):
        if len(df):
            ax.bar(df["group"].astype(str), df["conversion_rate"], color="#2e86c1", label="conversion")
            twin = ax.twinx()
            twin.plot(df["group"].astype(str), df["unsubscribe_rate"], color="#c0392b", marker="o",
                      label="unsubscribe")
            twin.set_ylabel("unsubscribe rate", color="#c0392b")
        ax.set_xlabel(label)
        ax.set_ylabel("conversion rate", color="#2e86c1")
    fig.tight_layout()
    return _png(fig)


def monitor_report(path: str, title: str, result, history: pd.DataFrame, cfg) -> str:
    """Write the HTML report of one market's monitor run (``cfg``: ``lifecycle.monitor``); return the path."""
    import matplotlib

    matplotlib.use("Agg")
    verdict = ("<p class='bad'><b>Retrain triggered</b></p><ul>" + "".join(
        f"<li>{html.escape(c)}</li>" for c in result.causes) + "</ul>") if result.causes else \
        "<p class='ok'><b>No retrain trigger</b></p>"
    parts = [
        f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:70em} .t td,.t th{padding:2px 8px;font-size:12px}"
        ".bad{color:#c0392b} .ok{color:#1e8449} h2{border-bottom:1px solid #ccc}</style></head><body>",
        f"<h1>Model monitor — {html.escape(title)}</h1>", verdict,
        "<h2>AUC over time</h2>", _auc_plot(history, result.champion_auc, cfg.auc_drop),
        _table(history),
        "<h2>Calibration (latest matured week)</h2>",
        _calibration_plot(result.reliability) if result.reliability is not None else "<p><i>no matured outcomes "
        "of published decisions yet</i></p>",
        "<h2>Feature PSI vs the champion's training reference</h2>",
        _psi_plot(result.feature_psi, cfg.psi_warn, cfg.psi_alert) if len(result.feature_psi) else "",
        _table(result.feature_psi),
        "<h2>Score drift (latest decision day vs the champion's first)</h2>", _table(result.score_drift),
        "<h2>Outcomes per net-value bin and per tier (matured weeks)</h2>",
        _bins_plot(result.bins, result.tiers) if len(result.bins) else "",
        "<h3>Bins</h3>", _table(result.bins), "<h3>Tiers (emails / week)</h3>", _table(result.tiers),
        "<h2>Monitored values</h2>", _table(pd.DataFrame(sorted(result.metrics.items()), columns=["metric", "value"])),
        "</body></html>",
    ]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))
    return path

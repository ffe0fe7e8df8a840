"""Campaign requests: one validation for every way a request comes in (CLI, Python API, web service).

:func:`validate_request` is pure (a dict in, a list of :class:`FieldError` out, each naming the field and
why), so the web service, ``submit-promo-request`` and ``plan-promos`` reject the same things with the
same words. Checks that need the lake (is the merchant known, can any design meet the CPS limit) are
``plan-promos``' — it ends such a request ``failed`` with the reason.

Stable public API (the web service imports it): ``FIELDS``, ``FieldError``, ``RequestError``,
``validate_request``, ``normalize_request``, ``request_frame``, ``submit_request``, ``new_request_id``.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sendopt.channels.promo.config import RequestLimits
from sendopt.channels.promo.tables import PROMO_REQUESTS
from sendopt.errors import SendoptError

SEGMENTS = ("new", "active", "churned")
PROMO_TYPES = ("percent", "voucher")
GOALS = ("net_revenue",)

#: field → (required, default). Defaults fill what a merchant may leave out.
FIELDS: dict[str, tuple[bool, Any]] = {
    "request_id": (False, None),
    "merchant_id": (True, None),
    "start_date": (True, None),
    "end_date": (True, None),
    "budget": (True, None),
    "goal": (False, "net_revenue"),
    "weight_orders": (False, 0.0),
    "weight_new_customers": (False, 0.0),
    "max_cps": (False, None),
    "promo_types": (False, ["percent", "voucher"]),
    "discount_pct_min": (False, 5.0),
    "discount_pct_max": (False, 30.0),
    "voucher_values": (False, [0.0, 5.0, 10.0]),
    "min_spend_min": (False, 0.0),
    "min_spend_max": (False, 40.0),
    "segments": (False, list(SEGMENTS)),
    "min_coverage": (False, {}),
    "submitted_by": (False, "unknown"),
}


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class RequestError(SendoptError):
    """A request that does not pass validation; ``errors`` lists every field at fault."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("invalid promo request — " + "; ".join(map(str, errors)))


def new_request_id() -> str:
    return f"pr-{uuid.uuid4().hex[:12]}"


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a number, not true/false")
    out = float(value)
    if out != out or out in (float("inf"), float("-inf")):
        raise ValueError("a finite number")
    return out


def _list(value: Any) -> list:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value)


def _parse(payload: Mapping[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """Typed values with defaults filled; type errors as field errors."""
    errors: list[FieldError] = []
    unknown = sorted(set(payload) - set(FIELDS) - {"submitted_at", "status"})
    errors += [FieldError(k, f"unknown field (known: {', '.join(FIELDS)})") for k in unknown]
    out: dict[str, Any] = {}
    for name, (required, default) in FIELDS.items():
        value = payload.get(name)
        if value is None or value == "":
            if required:
                errors.append(FieldError(name, "is required"))
            out[name] = default
            continue
        try:
            if name in ("start_date", "end_date"):
                out[name] = _date(value)
            elif name == "merchant_id":
                if isinstance(value, bool) or float(value) != int(float(value)):
                    raise ValueError("an integer merchant id")
                out[name] = int(float(value))
            elif name in ("request_id", "goal", "submitted_by"):
                out[name] = str(value).strip()
            elif name in ("promo_types", "segments"):
                out[name] = [str(v).strip().lower() for v in _list(value)]
            elif name == "voucher_values":
                out[name] = sorted({_number(v) for v in _list(value)})
            elif name == "min_coverage":
                if not isinstance(value, Mapping):
                    raise ValueError("a mapping segment → share, e.g. {\"new\": 0.2}")
                out[name] = {str(k).strip().lower(): _number(v) for k, v in value.items()}
            else:
                out[name] = _number(value)
        except (TypeError, ValueError) as exc:
            errors.append(FieldError(name, f"cannot read {value!r}: expected {_expected(name)} ({exc})"))
            out[name] = default
    return out, errors


def _expected(name: str) -> str:
    if name in ("start_date", "end_date"):
        return "a date YYYY-MM-DD"
    if name in ("promo_types", "segments"):
        return "a list of names"
    if name == "voucher_values":
        return "a list of numbers"
    if name == "min_coverage":
        return "a mapping segment → share"
    if name == "merchant_id":
        return "an integer"
    return "a number" if name not in ("request_id", "goal", "submitted_by") else "text"


def _rules(r: dict[str, Any], today: dt.date | None, limits: RequestLimits) -> list[FieldError]:
    """Business rules on parsed values (every one names its field and the limit)."""
    e: list[FieldError] = []
    lo_pct, hi_pct = limits.discount_pct_range
    if r["request_id"] is not None and not (0 < len(r["request_id"]) <= 64
                                             and all(c.isalnum() or c in "-_." for c in r["request_id"])):
        e.append(FieldError("request_id", "must be 1-64 letters, digits, '-', '_' or '.'"))
    if r["goal"] not in GOALS:
        e.append(FieldError("goal", f"unknown goal {r['goal']!r}; supported: {', '.join(GOALS)}"))
    if r["merchant_id"] is not None and r["merchant_id"] < 0:
        e.append(FieldError("merchant_id", "must be ≥ 0"))
    start, end = r["start_date"], r["end_date"]
    if start is not None and end is not None:
        if end < start:
            e.append(FieldError("end_date", f"{end} is before start_date {start}"))
        elif (end - start).days + 1 > limits.max_campaign_days:
            e.append(FieldError("end_date", f"campaign of {(end - start).days + 1} days is longer than the "
                                f"{limits.max_campaign_days} allowed"))
        if today is not None and start < today:
            e.append(FieldError("start_date", f"{start} is in the past (today is {today})"))
        if today is not None and (start - today).days > limits.max_lead_days:
            e.append(FieldError("start_date", f"{start} is more than {limits.max_lead_days} days ahead"))
    if r["budget"] is not None and r["budget"] <= 0:
        e.append(FieldError("budget", f"must be > 0, got {r['budget']:g}"))
    if r["max_cps"] is not None and r["max_cps"] <= 0:
        e.append(FieldError("max_cps", f"must be > 0 when given, got {r['max_cps']:g}"))
    for name in ("weight_orders", "weight_new_customers"):
        if r[name] is not None and r[name] < 0:
            e.append(FieldError(name, f"must be ≥ 0, got {r[name]:g}"))
    bad_types = [t for t in r["promo_types"] or [] if t not in PROMO_TYPES]
    if bad_types:
        e.append(FieldError("promo_types", f"unknown {bad_types}; allowed: {', '.join(PROMO_TYPES)}"))
    elif not r["promo_types"]:
        e.append(FieldError("promo_types", "name at least one of percent, voucher"))
    pmin, pmax = r["discount_pct_min"], r["discount_pct_max"]
    if pmin is not None and pmax is not None:
        if pmin > pmax:
            e.append(FieldError("discount_pct_min", f"{pmin:g} is above discount_pct_max {pmax:g}"))
        if pmin < lo_pct or pmax > hi_pct:
            e.append(FieldError("discount_pct_max" if pmax > hi_pct else "discount_pct_min",
                                f"discount % must lie in [{lo_pct:g}, {hi_pct:g}]"))
    vouchers = r["voucher_values"] or []
    if any(v < 0 or v > limits.voucher_max for v in vouchers):
        e.append(FieldError("voucher_values", f"each must lie in [0, {limits.voucher_max:g}]"))
    smin, smax = r["min_spend_min"], r["min_spend_max"]
    if smin is not None and smax is not None:
        if smin > smax:
            e.append(FieldError("min_spend_min", f"{smin:g} is above min_spend_max {smax:g}"))
        if smin < 0 or smax > limits.min_spend_max:
            e.append(FieldError("min_spend_max", f"minimum spend must lie in [0, {limits.min_spend_max:g}]"))
    types = set(r["promo_types"] or [])
    if types and not bad_types:
        percent_ok = "percent" in types and pmax is not None and pmax > 0
        voucher_ok = "voucher" in types and any(v > 0 for v in vouchers)
        if not (percent_ok or voucher_ok):
            e.append(FieldError("promo_types", "the guard rails admit no promo: percent needs discount_pct_max > 0,"
                                " voucher needs a voucher value > 0"))
    bad_seg = [s for s in r["segments"] or [] if s not in SEGMENTS]
    if bad_seg:
        e.append(FieldError("segments", f"unknown {bad_seg}; allowed: {', '.join(SEGMENTS)}"))
    elif not r["segments"]:
        e.append(FieldError("segments", "name at least one of new, active, churned"))
    for seg, share in (r["min_coverage"] or {}).items():
        if seg not in SEGMENTS:
            e.append(FieldError("min_coverage", f"unknown segment {seg!r}; allowed: {', '.join(SEGMENTS)}"))
        elif not 0 <= share <= 1:
            e.append(FieldError("min_coverage", f"{seg}: share {share:g} must lie in [0, 1]"))
        elif share > 0 and seg not in (r["segments"] or []):
            e.append(FieldError("min_coverage", f"{seg}: a minimum coverage for a segment not in segments"))
    return e


def validate_request(payload: Mapping[str, Any], today: dt.date | None = None,
                     limits: RequestLimits | None = None) -> list[FieldError]:
    """Every field error of ``payload`` (empty: valid). ``today`` set → start dates in the past are errors."""
    parsed, errors = _parse(payload)
    return errors + _rules(parsed, today, limits or RequestLimits())


def normalize_request(payload: Mapping[str, Any], today: dt.date | None = None,
                      limits: RequestLimits | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """The row to append (defaults filled, id generated when absent); raises :class:`RequestError`."""
    parsed, errors = _parse(payload)
    errors += _rules(parsed, today, limits or RequestLimits())
    if errors:
        raise RequestError(errors)
    row = dict(parsed)
    row["request_id"] = row["request_id"] or new_request_id()
    row["submitted_at"] = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    row["status"] = "pending"
    return {c: row[c] for c in PROMO_REQUESTS.column_names}


def request_frame(spark, rows: list[dict[str, Any]]):
    """Normalized rows → a DataFrame in ``ops.promo_requests``' schema."""
    cols = PROMO_REQUESTS.column_names
    return spark.createDataFrame([tuple(r[c] for c in cols) for r in rows], PROMO_REQUESTS.schema)


def submit_request(lake, payload: Mapping[str, Any], today: dt.date | None = None,
                   limits: RequestLimits | None = None) -> dict[str, Any]:
    """Validate ``payload`` and append it to ``ops.promo_requests``; return the stored row.

    Also refuses an id already taken and a merchant not in ``raw.merchants`` (when that table exists)."""
    row = normalize_request(payload, today, limits)
    spark = lake.spark
    from pyspark.sql import functions as F

    if lake.exists("raw.merchants") and lake.read("raw.merchants").where(
            F.col("merchant_id") == row["merchant_id"]).limit(1).count() == 0:
        raise RequestError([FieldError("merchant_id", f"merchant {row['merchant_id']} is not in raw.merchants")])
    if lake.exists(PROMO_REQUESTS) and lake.read(PROMO_REQUESTS).where(
            F.col("request_id") == row["request_id"]).limit(1).count() > 0:
        raise RequestError([FieldError("request_id", f"{row['request_id']} already exists")])
    lake.write(request_frame(spark, [row]), PROMO_REQUESTS, mode="append")
    return row

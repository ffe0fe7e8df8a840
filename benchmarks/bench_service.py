"""Customer decision lookup: p50/p99 latency and requests/s of GET /api/customers/{id}/decisions.

    python -m benchmarks service [--customers 1000000] [--requests 20000] [--clients 4]

Writes one market's email decisions for N customers, push for N/3 and coupons for N/10 through the lake
(Spark), starts ``sendopt serve`` as its own process on loopback (worker off), waits for the snapshot, then
sends the lookups from ``--clients`` keep-alive connections (10% unknown ids → 404) and prints latency
percentiles, throughput, the snapshot's load time and the server's memory.
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import psutil
from pyspark.sql import functions as F

from benchmarks.common import bench_session
from sendopt.catalog import open_lake

DAY = dt.date(2026, 3, 2)


def write_decisions(lake, n: int) -> float:
    t0 = time.perf_counter()
    users = lake.spark.range(n).select(F.format_string("u%08d", "id").alias("user_id"), F.col("id"))
    email = lake.spec("decisions.email_frequency")
    cols = {
        "decision_date": F.lit(DAY), "region": F.lit("north"), "brand": F.lit("alpha"),
        "p_purchase": F.rand(1), "p_unsubscribe": F.rand(2) / 20, "p_no_action": F.lit(0.5),
        "net_value": F.rand(3), "net_value_ref": F.rand(4), "bin": (F.col("id") % 10 + 1).cast("int"),
        "tier_frequency": F.lit(3), "optimal_frequency": F.lit(3), "emails_per_week": (F.col("id") % 4).cast("int"),
        "policy": F.lit("tiers"), "is_exploration": F.lit(False), "exploration_prob": F.lit(1.0), "rule": F.lit(None),
        "model_name": F.lit("sendopt_email_response_north_alpha"), "model_version": F.lit("7"),
        "run_id": F.lit("bench"), "config_hash": F.lit("bench")}
    df = users.select("user_id", *[cols[c].cast(email.schema[c].dataType).alias(c) for c in email.column_names
                                   if c != "user_id"])
    lake.write(df, email, mode="replace", where={"decision_date": DAY, "region": "north", "brand": "alpha"})
    coupons = lake.spec("decisions.coupon_assignments")
    ccols = {"decision_date": F.lit(DAY), "region": F.lit("north"), "brand": F.lit("alpha"),
             "coupon_level": F.lit(10.0), "arm": F.lit(1), "predicted_incremental_value": F.rand(5),
             "predicted_cost": F.rand(6), "predicted_net_gain": F.rand(7), "reason": F.lit("allocated"),
             "lambda": F.lit(0.0), "learner": F.lit("x"), "model_name": F.lit("coupons"), "model_version": F.lit("2"),
             "run_id": F.lit("bench"), "config_hash": F.lit("bench")}
    cdf = users.where(F.col("id") % 10 == 0).select(
        "user_id", *[ccols[c].cast(coupons.schema[c].dataType).alias(c) for c in coupons.column_names if c != "user_id"])
    lake.write(cdf, coupons, mode="replace", where={"decision_date": DAY})
    return time.perf_counter() - t0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(conn: http.client.HTTPConnection, path: str, token: str) -> int:
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks service")
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args(argv)
    root = tempfile.mkdtemp(prefix="bench_service_")
    config, spark = bench_session(root, "spark.master=local[2]", "spark.shuffle_partitions=4")
    lake = open_lake(spark, config)
    wrote = write_decisions(lake, args.customers)
    print(f"decisions written: {args.customers:,} customers (email), {args.customers // 10:,} coupons in {wrote:.1f}s")
    spark.stop()

    port, token = free_port(), "bench-token"
    env = {**os.environ, "SENDOPT_READ_TOKEN": token, "SENDOPT_WRITE_TOKEN": token + "-w"}
    cmd = [sys.executable, "-m", "sendopt.cli", "serve", "--port", str(port), "--set", f"lake.root={root}",
           "--set", "service.worker.in_process=false", "--set", "spark.master=local[1]"]
    t0 = time.perf_counter()
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready = None
        while time.perf_counter() - t0 < 300:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                if get(conn, "/api/customers/u00000001/decisions", token) == 200:
                    ready = time.perf_counter() - t0
                    break
            except OSError:
                pass
            time.sleep(0.5)
        if ready is None:
            print("server did not become ready in 300 s")
            return 1
        rss = psutil.Process(server.pid).memory_info().rss / 2**20
        print(f"server ready (Spark started, snapshot loaded) after {ready:.1f}s; server RSS {rss:.0f} MiB")
        per_client = args.requests // args.clients
        latencies: list[list[float]] = [[] for _ in range(args.clients)]
        codes: dict[int, int] = {}
        lock = threading.Lock()

        def client(i: int) -> None:
            rng = random.Random(i)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for _ in range(per_client):
                uid = f"u{rng.randrange(args.customers):08d}" if rng.random() < 0.9 else f"x{rng.randrange(10**8)}"
                t = time.perf_counter()
                code = get(conn, f"/api/customers/{uid}/decisions", token)
                latencies[i].append(time.perf_counter() - t)
                with lock:
                    codes[code] = codes.get(code, 0) + 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - start
        lat = np.array([x for per in latencies for x in per]) * 1000
        result = {"customers": args.customers, "requests": int(lat.size), "clients": args.clients,
                  "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2),
                  "max_ms": round(float(lat.max()), 1), "requests_per_s": round(lat.size / wall, 1), "codes": codes,
                  "server_rss_mib": round(psutil.Process(server.pid).memory_info().rss / 2**20)}
        print(json.dumps(result))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

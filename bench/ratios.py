#!/usr/bin/env python3
"""Prints the ratios the issues ask for from Google Benchmark JSON output.

Usage: wal_bench --benchmark_format=json > wal.json
       store_bench --benchmark_format=json > store.json
       python3 bench/ratios.py wal.json store.json
Medians are used where a benchmark ran repetitions.
"""
import json
import sys


def load(paths):
    rates = {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for b in data["benchmarks"]:
            name = b.get("run_name", b["name"])
            if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
                continue
            value = b.get("items_per_second") or b.get("bytes_per_second")
            if value:
                rates[name] = value
    return rates


def find(rates, prefix):
    """The benchmark named `prefix`, or else the first whose name extends it
    with another path component (".../threads:1" must not match "threads:16")."""
    if prefix in rates:
        return prefix, rates[prefix]
    for name, value in rates.items():
        if name.startswith(prefix + "/"):
            return name, value
    return None, None


def ratio(rates, numerator, denominator, label):
    n_name, n = find(rates, numerator)
    d_name, d = find(rates, denominator)
    if n is None or d is None:
        return
    print(f"{label}: {n:,.0f} / {d:,.0f} = {n / d:.2f}x   ({n_name} vs {d_name})")


def main():
    rates = load(sys.argv[1:])
    raw = "BM_RawAppendFdatasync"
    for threads in (1, 4, 16):
        ratio(rates, f"BM_StoreSyncedPut/min_time:1.000/real_time/threads:{threads}", raw,
              f"group commit, {threads:2} writers vs raw write+fdatasync")
    ratio(rates, "BM_RawPreallocatedPwriteFdatasync", raw, "raw preallocated pwrite vs append")
    ratio(rates, "BM_StoreSyncedPut/min_time:1.000/real_time/threads:1",
          "BM_RawPreallocatedPwriteFdatasync", "1 synced writer vs raw preallocated")
    ratio(rates, "BM_StoreSyncedPutGrowingWal/min_time:1.000/real_time/threads:1",
          "BM_RawPreallocatedPwriteFdatasync", "1 synced writer, WAL not preallocated, vs raw preallocated")
    ratio(rates, "BM_Compaction", "BM_RawSequentialWrite", "compaction vs raw sequential write")


if __name__ == "__main__":
    main()

"""`make bench`: every benchmark in one JSON file, plus a short summary on stdout.

Timings depend on the machine and on what else runs on it: the JSON records the
load average and CPU count next to the figures.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
import traceback
from pathlib import Path

BENCHES = [
    "bench_pipeline",
    "bench_server",
    "bench_server_soak",
    "bench_sam",
    "bench_deaot",
    "bench_e2fgvi",
    "bench_batch",
    "bench_trackers",
    "bench_detect",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--out", type=Path, default=Path("bench-output/bench.json"))
    parser.add_argument("--only", nargs="*", choices=BENCHES, help="run only these")
    args = parser.parse_args(argv)

    results = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_before": os.getloadavg()}
    }
    for name in args.only or BENCHES:
        t0 = time.perf_counter()
        print(f"bench: {name} ...", flush=True)
        try:
            results[name] = importlib.import_module(f"bench.{name}").run()
        except Exception:  # a broken bench must not hide the others' figures
            results[name] = {"error": traceback.format_exc(limit=3)}
        results[name + "_seconds"] = round(time.perf_counter() - t0, 1)
    results["machine"]["load_after"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))
    print(f"bench: wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

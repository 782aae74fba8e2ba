"""Which speedup quantity carries best between two hosts of the same machine kind?

    python tools/crosshost.py [BASELINE.json [OTHER.json]]

For every pair with a critical-path bound, both runs, by median and by min of the rounds:
speedup (slow / fast), efficiency (bound / fast) and the slow variant's own drift, each with its
seeded bootstrap interval, and how far the other host lies from the baseline host (drift). The
quantity with the smallest drift is the one a gate can compare across hosts with the least
tolerance spent on the host change. Defaults: the committed baseline against
../shared/measurements/full-run-other-host.json (a full `pytest bench` of the same code).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from lecture31.report.stats import speedupInterval

SLOW_FAST = {"sequential": "tiered", "naive": "correct", "fixed": "adaptive", "bare": "breaker"}


def pairsOf(path: Path) -> dict[str, dict]:
    run = json.loads(path.read_text(encoding="utf-8"))
    pairs: dict[str, dict] = {}
    for bench in run["benchmarks"]:
        info = bench.get("extra_info") or {}
        if "pair" in info:
            pairs.setdefault(info["pair"], {})[info["variant"]] = bench
    out = {}
    for pair, variants in pairs.items():
        slow = next(v for v in variants if v in SLOW_FAST)
        fastBench = variants[SLOW_FAST[slow]]
        ideal = fastBench["extra_info"].get("idealSeconds")
        if ideal is None:
            continue
        out[pair] = {
            "slow": variants[slow]["stats"]["data"],
            "fast": fastBench["stats"]["data"],
            "ideal": ideal,
        }
    return out


def quantities(rounds: dict, stat: str) -> dict[str, object]:
    speedup = speedupInterval(rounds["slow"], rounds["fast"], stat=stat)
    # efficiency = ideal / fast = speedup against a 'slow variant' that always takes `ideal`
    efficiency = speedupInterval([rounds["ideal"]], rounds["fast"], stat=stat)
    return {"speedup": speedup, "efficiency": efficiency}


def main(argv: list[str]) -> int:
    base = Path(argv[0] if argv else "results/Linux-CPython-3.11-64bit/0001_baseline.json")
    other = Path(argv[1] if len(argv) > 1 else "../shared/measurements/full-run-other-host.json")
    a, b = pairsOf(base), pairsOf(other)
    print(f"baseline host: {base}\nother host:    {other}\n")
    print("| pair | stat | quantity | baseline host | other host | drift |")
    print("| :--- | :--- | :--- | ---: | ---: | ---: |")
    worst: dict[tuple[str, str], float] = {}
    for pair in sorted(a.keys() & b.keys(), key=lambda p: (p.split("-")[0], int(p.split("-")[1]))):
        for stat in ("median", "min"):
            qa, qb = quantities(a[pair], stat), quantities(b[pair], stat)
            for name in qa:
                drift = qb[name].point / qa[name].point - 1
                key = (name, stat)
                worst[key] = max(worst.get(key, 0.0), abs(drift))
                digits = 2
                print(
                    f"| {pair} | {stat} | {name} | {qa[name].format(digits, '')} "
                    f"| {qb[name].format(digits, '')} | {drift:+.1%} |"
                )
    print("\nlargest |drift| over the pairs:")
    for (name, stat), value in sorted(worst.items(), key=lambda kv: kv[1]):
        print(f"  {name:10s} by {stat:6s}: {value:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

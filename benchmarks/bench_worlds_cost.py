"""What the worlds and donors pages cost a report, read from its ledger, beside their budget.

The two pages of the paper-regime work (08_worlds, 09_donors) and the
replicates that feed them (the calibration's world and donors scenarios)
must add at most `BUDGET_MIN` minutes to the full report on 2 cores. A report
runs `--jobs` notebooks at once, so their notebook-seconds divided by the jobs
is what they add to its wall time when the rest keeps the other job busy. This is the gross
cost: scenarios they replaced (the calibration's old matched-line and power scenarios) are not
subtracted.

    python benchmarks/bench_worlds_cost.py [outputs/notebooks/ledger.json] [--jobs 2]
    python benchmarks/bench_worlds_cost.py --tiny     # a made-up ledger: the table's shape only
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: The budget of the issue, in minutes of wall time on 2 cores.
BUDGET_MIN = 10.0
#: Executions that exist for the worlds and donors pages: the pages and the replicates of their scenarios.
PAGES = ("worlds", "donors")
SCENARIO_PREFIXES = ("replicates_world_", "replicates_donors")


def is_worlds_work(exec_id: str) -> bool:
    return exec_id in PAGES or exec_id.startswith(SCENARIO_PREFIXES)


def cost(ledger: dict, jobs: int) -> list[tuple[str, float, float, float, str, str]]:
    """Rows: quantity, measured, reference, ratio, target, pass."""
    seconds = {i: float(e["seconds"]) for i, e in ledger["executions"].items() if i in ledger["report"]["executions"]}
    ours = sum(s for i, s in seconds.items() if is_worlds_work(i))
    total = sum(seconds.values())
    added = ours / jobs / 60
    return [
        ("worlds + donors notebook time (min), of all notebooks", ours / 60, total / 60, ours / max(total, 1e-9), "", ""),
        (f"added wall time at {jobs} jobs (min) vs budget", added, BUDGET_MIN, added / BUDGET_MIN, "<= 1",
         "yes" if added <= BUDGET_MIN else "no"),
        (f"all notebooks at {jobs} jobs (min), for scale", total / jobs / 60, float("nan"), float("nan"), "", ""),
    ]


def _tiny_ledger() -> dict:
    ids = ["compare", "worlds", "donors", "replicates_world_L_s1-10", "replicates_donors3_G_s1-6", "replicates_null_s1-10"]
    return {"executions": {i: {"seconds": 60.0} for i in ids}, "report": {"executions": ids, "seconds": 200.0}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ledger", nargs="?", type=Path, default=Path("outputs/notebooks/ledger.json"))
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--tiny", action="store_true", help="a made-up ledger (the suite's check that this runs)")
    args = parser.parse_args()
    ledger = _tiny_ledger() if args.tiny else json.loads(args.ledger.read_text())
    print("quantity | measured | reference | ratio | target | pass")
    for name, measured, reference, ratio, target, passed in cost(ledger, args.jobs):
        print(f"{name} | {measured:.2f} | {reference:.2f} | {ratio:.2f} | {target or '–'} | {passed or '–'}")


if __name__ == "__main__":
    main()

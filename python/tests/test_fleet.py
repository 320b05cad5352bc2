"""examples/fleet_dask.py on a LocalCluster of 2 workers over 2,000+
generated captures gives the verdict table `trunkdiag batch` gives over the
same captures."""

import json
import os
import subprocess
import sys

from conftest import BIN, REPO, run_cli

# 17 cars x 16 scenarios x 8 seeds: 2,176 captures.
SEEDS = int(os.environ.get("TRUNKDIAG_FLEET_SEEDS", "8"))


def fleet():
    out = REPO / "target" / "py-test" / f"fleet-{SEEDS}"
    subprocess.run([REPO / "scripts" / "fleet-captures", out, str(SEEDS), BIN], check=True)
    return out


def test_dask_verdict_table_equals_batch():
    captures = fleet()
    n = len(list(captures.rglob("*.log")))
    assert n >= 2000, f"{n} captures"
    stdout, _, _ = run_cli("batch", "-q", "--jobs", "2", "--profile", "auto", captures)
    sys.path.insert(0, str(REPO / "examples"))
    import fleet_dask

    batch = []
    for line in stdout.splitlines():
        job = json.loads(line)
        if job["error"]:
            batch.append((job["profile"], "failed", ""))
        else:
            top = job["verdicts"][0]
            batch.append((job["profile"], top["id"], top["confidence"]))
    assert len(batch) == n
    example = subprocess.run(
        [sys.executable, REPO / "examples" / "fleet_dask.py", captures, "--workers", "2", "--json"],
        capture_output=True,
        text=True,
    )
    assert example.returncode == 0, example.stderr
    dask = json.loads(example.stdout)
    assert dask["captures"] == n
    want = [list(r) for r in fleet_dask.table_of_rows(batch)]
    assert dask["rows"] == want
    # The fleet is varied: many profiles and causes, not one row.
    assert len({r[0] for r in want}) >= 15 and len({r[1] for r in want}) >= 10
    assert not [r for r in want if r[1] == "failed"]

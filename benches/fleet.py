"""Fleet throughput and the Python call's cost, measured side by side in
one run (scripts/bench-fleet runs this; figures are ratios against a peer
timed in the same run, as BENCHMARKS.md asks).

1. `trunkdiag batch --jobs 2` against examples/fleet_dask.py on a
   LocalCluster of 2 single-threaded workers, over the same captures,
   alternating: captures/s of each (Dask's table time without the cluster's
   start, and its whole run with it).
2. The cost per capture of `trunkdiag.diagnose` called from Python (one
   thread, the document parsed into a dict) against the CLI's in-process
   path (`batch --jobs 1`: the same diagnosis per capture in one process),
   over the same captures, alternating.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import trunkdiag

BIN, FLEET, ROUNDS = sys.argv[1], sys.argv[2], int(sys.argv[3])
EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "fleet_dask.py")


def timed(cmd):
    t = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True)
    # batch exits 1 when a job found a fault: only 2 is a failed run.
    if run.returncode not in (0, 1):
        sys.exit(f"{cmd}: exit {run.returncode}: {run.stderr}")
    return time.perf_counter() - t, run.stdout


def captures():
    paths = []
    for root, dirs, files in os.walk(FLEET):
        dirs.sort()
        paths += [os.path.join(root, f) for f in sorted(files) if f.endswith(".log")]
    return paths


paths = captures()
n = len(paths)
load = os.getloadavg()[0]
batch_s, dask_table_s, dask_whole_s = [], [], []
for _ in range(ROUNDS):
    s, _ = timed([BIN, "batch", "-q", "--jobs", "2", "--profile", "auto", FLEET])
    batch_s.append(s)
    s, out = timed([sys.executable, EXAMPLE, FLEET, "--workers", "2", "--json"])
    dask_whole_s.append(s)
    dask_table_s.append(json.loads(out)["table_s"])

sample = paths[:: max(1, n // 400)][:400]
# batch takes directories: the sample as links in a directory of its own.
listing = tempfile.mkdtemp(prefix="bench-fleet-")
for i, p in enumerate(sample):
    os.symlink(os.path.abspath(p), os.path.join(listing, f"{i:04d}.log"))
py_s, cli_s = [], []
for _ in range(ROUNDS):
    t = time.perf_counter()
    for p in sample:
        trunkdiag.diagnose(p)
    py_s.append(time.perf_counter() - t)
    s, _ = timed([BIN, "batch", "-q", "--jobs", "1", "--profile", "auto", listing])
    cli_s.append(s)

# What the call's cost is made of: the same captures with the profile
# named (no VIN pass, no profile choice), and the document's size and the
# time Python's json takes to read it.
named_s, loads_s, sizes = [], [], []
for _ in range(ROUNDS):
    t = time.perf_counter()
    for p in sample:
        trunkdiag.diagnose(p, os.path.basename(os.path.dirname(p)))
    named_s.append(time.perf_counter() - t)
docs = [json.dumps(trunkdiag.diagnose(p)) for p in sample]
sizes = [len(d) for d in docs]
for _ in range(ROUNDS):
    t = time.perf_counter()
    for d in docs:
        json.loads(d)
    loads_s.append(time.perf_counter() - t)

med = statistics.median
print(f"fleet: {n} captures in {FLEET} ({ROUNDS} alternating rounds); load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end, on {os.cpu_count()} cores")
print(f"batch --jobs 2:                      median {med(batch_s):.3f} s, {n / med(batch_s):8.0f} captures/s")
print(f"Dask, 2 workers (table only):        median {med(dask_table_s):.3f} s, {n / med(dask_table_s):8.0f} captures/s")
print(f"Dask, 2 workers (with cluster start): median {med(dask_whole_s):.3f} s, {n / med(dask_whole_s):8.0f} captures/s")
print(f"batch --jobs 2 captures/s / Dask captures/s (table only): {med(dask_table_s) / med(batch_s):.1f}x")
print(f"per capture, {len(sample)} captures, one thread: trunkdiag.diagnose from Python {1e3 * med(py_s) / len(sample):.3f} ms, "
      f"batch --jobs 1 (in-process) {1e3 * med(cli_s) / len(sample):.3f} ms")
print(f"Python call cost / CLI in-process cost per capture: {med(py_s) / med(cli_s):.2f}x")
print(f"per capture, the profile named instead of auto: trunkdiag.diagnose {1e3 * med(named_s) / len(sample):.3f} ms; "
      f"document median {med(sizes) / 1e3:.1f} kB, json.loads of it {1e3 * med(loads_s) / len(sample):.3f} ms")

"""Which cars of a fleet show which trunk fault? trunkdiag over Dask.

Maps trunkdiag's diagnosis over every capture of a directory (or a list of
captures, or object-store URLs through fsspec) on a Dask cluster, and
reduces the verdicts to one table: captures per profile, cause and
confidence. Each capture is diagnosed exactly as `trunkdiag diagnose
--replay CAPTURE --json` would (the `trunkdiag` Python module is built from
the same crate), so the table is the one `trunkdiag batch` gives over the
same captures.

    # A local cluster of 2 worker processes:
    python examples/fleet_dask.py captures/nissan-altima-2013-2018 --profile nissan-altima-2013-2018 --workers 2
    # A running cluster (every worker has the trunkdiag wheel installed):
    python examples/fleet_dask.py /shared/captures --scheduler scheduler:8786
    # Captures in an object store (needs fsspec and its s3fs / gcsfs / adlfs):
    python examples/fleet_dask.py s3://fleet/captures/ --scheduler scheduler:8786

Prints the table (or with --json, one JSON object: rows and timings).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter

import trunkdiag

# Inside directories, as `trunkdiag batch` does: hidden files and these
# sidecars are not captures. Every .csv is kept (batch keeps only SavvyCAN
# ones; another table fails here as a capture that cannot be read).
SIDECARS = {".json", ".md", ".txt", ".toml", ".yaml", ".yml", ".html"}


def is_url(path: str) -> bool:
    return "://" in path


def capture_paths(inputs: list[str]) -> list[str]:
    """Every capture named or inside a named directory, recursively, in
    sorted order (batch's order and its rule for what is a capture)."""
    out: list[str] = []
    for given in inputs:
        if is_url(given):
            out.extend(_object_store_paths(given))
        elif os.path.isdir(given):
            for root, dirs, files in os.walk(given):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for f in sorted(files):
                    if f.startswith(".") or os.path.splitext(f)[1].lower() in SIDECARS:
                        continue
                    out.append(os.path.join(root, f))
        else:
            out.append(given)
    return out


def _object_store_paths(url: str) -> list[str]:
    import fsspec  # only for URLs: local runs need no fsspec

    fs, root = fsspec.core.url_to_fs(url)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    found = fs.find(root) if fs.isdir(root) else [root]
    return [
        f"{protocol}://{p}"
        for p in sorted(found)
        if not os.path.basename(p).startswith(".")
        and os.path.splitext(p)[1].lower() not in SIDECARS
    ]


def verdict_row(path: str, profile: str = "auto") -> tuple[str, str, str]:
    """(profile id, top verdict, its confidence) of one capture; a capture
    that cannot be diagnosed is ("<profile asked>", "failed", "")."""
    try:
        if is_url(path):
            import fsspec

            with fsspec.open(path, "rb") as f:
                doc = trunkdiag.diagnose(f.read(), profile, name=path)
        else:
            doc = trunkdiag.diagnose(path, profile)
    except trunkdiag.Error:
        return (profile, "failed", "")
    top = doc["verdicts"][0] if doc["verdicts"] else {"id": "", "confidence": ""}
    return (doc["profile"]["id"], top["id"], top["confidence"])


def verdict_table(client, paths: list[str], profile: str = "auto", partitions: int | None = None):
    """Captures per (profile, verdict, confidence), sorted, computed on the
    cluster behind `client`: each partition of paths is diagnosed on one
    worker, the counts are summed on the cluster, one small table comes back."""
    import dask.bag as db

    if not paths:
        return []
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    npartitions = partitions or min(len(paths), workers * 8)
    bag = db.from_sequence(paths, npartitions=npartitions)
    counts = bag.map(verdict_row, profile).frequencies().compute()
    return sorted((p, v, c, n) for (p, v, c), n in counts)


def table_of_rows(rows) -> list[tuple[str, str, str, int]]:
    """The same table from (profile, verdict, confidence) rows (for
    results gathered some other way, e.g. `trunkdiag batch`'s lines)."""
    return sorted((p, v, c, n) for (p, v, c), n in Counter(rows).items())


def print_table(rows, out=sys.stdout) -> None:
    print(f"{'profile':<28} {'verdict':<28} {'confidence':<10} {'captures':>8}", file=out)
    for p, v, c, n in rows:
        print(f"{p:<28} {v:<28} {c:<10} {n:>8}", file=out)
    print(f"{'':<28} {'':<28} {'total':<10} {sum(r[3] for r in rows):>8}", file=out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="capture files, directories or URLs")
    ap.add_argument("--profile", default="auto", help="a profile name or .toml path, or auto (default)")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="address of a running cluster, e.g. scheduler:8786")
    where.add_argument("--workers", type=int, default=2, help="local cluster: worker processes (default 2)")
    ap.add_argument("--partitions", type=int, help="partitions of the capture list (default: 8 per worker)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args(argv)

    from dask.distributed import Client, LocalCluster

    started = time.perf_counter()
    if args.scheduler:
        client = Client(args.scheduler)
        cluster = None
    else:
        # One thread per worker process: the comparison with
        # `trunkdiag batch --jobs N` is N processes against N threads.
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=None)
        client = Client(cluster)
    try:
        ready = time.perf_counter()
        paths = capture_paths(args.inputs)
        rows = verdict_table(client, paths, args.profile, args.partitions)
        done = time.perf_counter()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if args.json:
        json.dump(
            {
                "captures": len(paths),
                "rows": [list(r) for r in rows],
                "cluster_start_s": ready - started,
                "table_s": done - ready,
            },
            sys.stdout,
        )
        print()
    else:
        print_table(rows)
        print(f"{len(paths)} captures in {done - ready:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

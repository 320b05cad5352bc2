"""What the binding's tests share: the repository, the CLI they compare the
module with (TRUNKDIAG_BIN, set by scripts/py-test), and running it."""

import json
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("TRUNKDIAG_BIN", str(REPO / "target" / "release" / "trunkdiag"))


def run_cli(*args, ok=(0, 1)):
    """The CLI's stdout, stderr and exit code; a code outside `ok` fails."""
    out = subprocess.run([BIN, *map(str, args)], capture_output=True, text=True)
    assert out.returncode in ok, f"{args}: exit {out.returncode}: {out.stderr}"
    return out.stdout, out.stderr, out.returncode


def canonical(value):
    """A JSON value as text with sorted keys: two documents are the same
    when these are equal byte for byte."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@pytest.fixture(scope="session")
def repo():
    return REPO


def bundled_captures():
    """Every capture of the library (captures/<profile>/<scenario>.log) with
    the observations of each of its expected cases, as tests/captures.rs
    runs them: (path, profile, observations)."""
    cases = []
    for log in sorted((REPO / "captures").glob("*/*.log")):
        expect = json.loads(log.with_suffix(".expect.json").read_text())
        for case in expect["cases"]:
            cases.append((log, log.parent.name, case["observations"]))
    return cases

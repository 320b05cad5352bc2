"""The module against the CLI it is built from: the same document for the
same capture, the same frames, signals and profiles, typed errors with the
CLI's message and place, and the same answers from 8 threads as in
sequence."""

import gzip
import json
import shutil
import struct
from concurrent.futures import ThreadPoolExecutor

import pytest

import trunkdiag
from conftest import REPO, bundled_captures, canonical, run_cli

CASES = bundled_captures()


def test_the_library_holds_captures():
    assert len(CASES) >= 100, "captures/ should hold the capture library"


@pytest.mark.parametrize(
    "log,profile,observations",
    CASES,
    ids=[f"{c[1]}/{c[0].stem}/{'+'.join(c[2]) or 'none'}" for c in CASES],
)
def test_diagnose_is_the_cli_document(log, profile, observations):
    args = ["diagnose", "--replay", log, "--profile", profile, "--json", "--no-prompt"]
    for o in observations:
        args += ["--observe", o]
    stdout, _, _ = run_cli(*args)
    observe = dict(o.split("=", 1) for o in observations)
    doc = trunkdiag.diagnose(str(log), profile, observe)
    assert canonical(doc) == canonical(json.loads(stdout))


def test_auto_and_bytes_give_the_document_of_the_file():
    log = REPO / "captures" / "nissan-altima-2013-2018" / "valet-lockout.log"
    stdout, _, code = run_cli("diagnose", "--replay", log, "--json", "--no-prompt")
    assert code == 1
    from_file = trunkdiag.diagnose(log)  # os.PathLike, profile auto
    from_bytes = trunkdiag.diagnose(log.read_bytes(), format="candump", name=str(log))
    gz = gzip.compress(log.read_bytes())
    from_gzip = trunkdiag.diagnose(gz, name=str(log))
    want = canonical(json.loads(stdout))
    assert canonical(from_file) == want
    assert canonical(from_bytes) == want
    assert canonical(from_gzip) == want
    assert from_file["profile"]["how"] == "auto"


def test_a_format_named_must_be_the_one_found():
    log = REPO / "captures" / "nissan-altima-2013-2018" / "valet-lockout.log"
    with pytest.raises(trunkdiag.CaptureError, match="expected a .* capture"):
        trunkdiag.diagnose(log.read_bytes(), format="pcapng", name="x.log")
    with pytest.raises(ValueError, match="expected one of"):
        trunkdiag.diagnose(log.read_bytes(), format="mp3")
    with pytest.raises(TypeError):
        trunkdiag.diagnose(42)


def test_a_malformed_capture_raises_with_its_place(tmp_path):
    bad = tmp_path / "bad.log"
    bad.write_text("(1700000000.000000) can0 7E8#0102\n(1700000000.100000) can0 7E8#01Z2\n")
    _, stderr, code = run_cli("diagnose", "--replay", bad, "--profile", "generic-uds", "--json", ok=(2,))
    with pytest.raises(trunkdiag.CaptureError) as e:
        trunkdiag.diagnose(bad, "generic-uds")
    assert isinstance(e.value, trunkdiag.Error)
    assert e.value.place == f"{bad}:2"
    assert (e.value.file, e.value.line) == (str(bad), 2)
    assert f"trunkdiag: error: {e.value}" == stderr.strip()
    # From bytes: the name given is the file in the message.
    with pytest.raises(trunkdiag.CaptureError) as e:
        trunkdiag.diagnose(bad.read_bytes(), "generic-uds", name="upload.log")
    assert e.value.place == "upload.log:2"


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00" * 100, b"\x1f\x8b\x08\x00garbage", b"\xd4\xc3\xb2\xa1" + b"\xff" * 40, b"LOGG" + b"\x00" * 200],
    ids=["empty", "zeros", "broken-gzip", "broken-pcap", "broken-blf"],
)
def test_garbage_raises_and_never_crashes(data):
    try:
        trunkdiag.diagnose(data, "generic-uds")
    except trunkdiag.CaptureError as e:
        assert e.place
    try:
        list(trunkdiag.read_capture(data))
    except trunkdiag.CaptureError:
        pass


def test_missing_file_bad_profile_and_bad_observation():
    with pytest.raises(trunkdiag.CaptureError, match="cannot open") as e:
        trunkdiag.diagnose("/nonexistent/x.log", "generic-uds")
    assert e.value.place == "/nonexistent/x.log" and e.value.line is None
    log = REPO / "captures" / "nissan-altima-2013-2018" / "valet-lockout.log"
    with pytest.raises(trunkdiag.ProfileError, match="no profile named `nope`"):
        trunkdiag.diagnose(log, "nope")
    broken = REPO / "tests" / "data" / "profiles" / "broken-unknown-key.toml"
    _, stderr, _ = run_cli("diagnose", "--replay", log, "--profile", broken, ok=(2,))
    with pytest.raises(trunkdiag.ProfileError) as e:
        trunkdiag.diagnose(log, str(broken))
    assert f"trunkdiag: error: {e.value}" == stderr.strip()
    assert e.value.file == str(broken) and e.value.line >= 1
    assert e.value.place.startswith(f"{broken}:{e.value.line}:")
    with pytest.raises(trunkdiag.ObservationError, match="--observe click=maybe"):
        trunkdiag.diagnose(log, "nissan-altima-2013-2018", {"click": "maybe"})
    yes = trunkdiag.diagnose(log, "nissan-altima-2013-2018", {"click": True})
    assert yes["observations"] == trunkdiag.diagnose(log, "nissan-altima-2013-2018", {"click": "yes"})["observations"]


def test_a_thousand_calls_from_eight_threads_give_the_sequential_answers():
    logs = sorted((REPO / "captures").glob("*/*.log"))
    calls = [(logs[i % len(logs)], "auto") for i in range(1000)]
    sequential = [canonical(trunkdiag.diagnose(*c)) for c in calls]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(lambda c: canonical(trunkdiag.diagnose(*c)), calls))
    assert threaded == sequential


# ------------------------------------------------------------------ frames


def cli_frames(path, *extra):
    """The frames as the CLI reads them: `capture cat` writes candump."""
    stdout, _, _ = run_cli("capture", "cat", path, *extra, ok=(0,))
    frames = []
    for line in stdout.splitlines():
        if not line.startswith("("):
            continue
        t, _iface, body = line.split()[:3]
        ident, data = body.split("#", 1)
        if data.startswith("#"):  # CAN FD: a flags nibble, then the bytes
            data = data[2:]
        elif data.startswith("R"):  # remote: no payload
            data = ""
        frames.append((round(float(t[1:-1]), 6), int(ident, 16), len(ident) == 8, bytes.fromhex(data)))
    return frames


def py_frames(path, **kw):
    return [(round(t, 6), i, e, bytes(d)) for t, i, e, d in trunkdiag.read_capture(path, **kw)]


def test_read_capture_gives_the_cli_frames_in_every_format(tmp_path):
    src = REPO / "captures" / "nissan-altima-2013-2018" / "trunk-latch.log"
    want = cli_frames(src)
    assert len(want) > 100
    files = {"candump": src}
    for fmt in ("asc", "trc", "csv", "pcapng"):
        out = tmp_path / f"x.{fmt}"
        stdout = run_cli_bytes("capture", "cat", src, "--to", fmt)
        out.write_bytes(stdout)
        files[fmt] = out
    files["pcap"] = tmp_path / "x.pcap"
    write_pcap(files["pcap"], want)
    gz = tmp_path / "x.log.gz"
    with open(src, "rb") as f, gzip.open(gz, "wb") as g:
        shutil.copyfileobj(f, g)
    files["gzip"] = gz
    for fmt, path in files.items():
        reader = trunkdiag.read_capture(path)
        got = [(round(t, 6), i, e, bytes(d)) for t, i, e, d in reader]
        assert got == cli_frames(path), fmt
        assert len(got) == len(want), fmt
        # Timestamps may be re-based by a format; ids and bytes never are.
        assert [f[1:] for f in got] == [f[1:] for f in want], fmt
    assert trunkdiag.read_capture(files["pcapng"]).format == "pcapng"
    assert set(trunkdiag.FORMATS) >= {"candump", "pcap", "pcapng", "asc", "blf", "trc", "csv"}


def test_real_recordings_read_as_the_cli_reads_them():
    for path in sorted((REPO / "tests" / "data" / "real").glob("*/*")):
        if path.suffix in (".candump", ".csv", ".asc"):
            assert py_frames(path) == cli_frames(path), path


def test_a_malformed_line_ends_the_frames_with_its_place(tmp_path):
    bad = tmp_path / "bad.log"
    bad.write_text("(1.000000) can0 123#01\n(2.000000) can0 124#02\n(3.000000) can0 zz#\n")
    frames = []
    with pytest.raises(trunkdiag.CaptureError) as e:
        for f in trunkdiag.read_capture(bad):
            frames.append(f)
    assert len(frames) == 2 and e.value.place == f"{bad}:3"
    assert len(list(trunkdiag.read_capture(bad, lenient=True))) == 2


def run_cli_bytes(*args):
    import subprocess

    from conftest import BIN

    return subprocess.run([BIN, *map(str, args)], capture_output=True, check=True).stdout


def write_pcap(path, frames):
    """A pcap of SocketCAN frames (link type 227), written here so the
    reader meets a file the tool did not write."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 227))
        for t, ident, ext, data in frames:
            can_id = ident | (0x80000000 if ext else 0)
            packet = struct.pack(">IB3x", can_id, len(data)) + data.ljust(8, b"\0")
            sec, usec = divmod(round(t * 1e6), 1_000_000)
            f.write(struct.pack("<IIII", sec, usec, len(packet), len(packet)) + packet)


# ----------------------------------------------------------- signals, profiles


def test_signals_are_the_cli_lines():
    log = REPO / "captures" / "ford-fusion-2013-2020" / "trunk-latch.log"
    stdout, _, _ = run_cli("capture", "signals", log, "--profile", "ford-fusion-2013-2020", "--json", ok=(0,))
    want = [json.loads(line) for line in stdout.splitlines()]
    got = trunkdiag.signals(log, "ford-fusion-2013-2020")
    assert len(got) > 5
    assert canonical(got) == canonical(want)


def test_profiles_are_the_cli_list():
    stdout, _, _ = run_cli("profiles", "list", "--json", ok=(0,))
    assert canonical(trunkdiag.profiles()) == canonical(json.loads(stdout))
    assert "nissan-altima-2013-2018" in {p["id"] for p in trunkdiag.profiles()}

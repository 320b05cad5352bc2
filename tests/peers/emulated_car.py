#!/usr/bin/env python3
"""An emulated car for the adapter tests, on ELM327-emulator (PyPI package
ELM327-emulator, installed in a venv by scripts/py-peers; it is not part
of this repository and its licence is non-commercial).

Usage: emulated_car.py elm|slcan|tcp PORT [--lockout]

elm:   the emulator plays an ELM327 adapter on the serial port PORT (one end
       of a socat pty pair); trunkdiag drives it with --iface elm327:OTHER_END.
slcan: the emulator plays a CANable-style SLCAN adapter on PORT
       (--iface slcan:OTHER_END, or slcand in the VM).
tcp:   the emulator plays a WiFi ELM327 on the loopback TCP port PORT
       (--iface elm327:tcp:127.0.0.1:PORT).

Behind either adapter are the emulator's own engine ECU (OBD-II 01 00 and
the VIN 09 02 on 7E0/7E8) and a Nissan BCM on 745/765 (KWP2000 over
ISO-TP) defined here: session 10 C0, keep-alive 3E 01, DTC read 18 02 FF 00
(no codes), leaving the session 10 81, and the data monitor 21 44 whose
first byte carries the trunk cancel (valet lockout) bit A.7, set with
--lockout.

The emulator's ATMA answers a canned text of another car, which is no
monitor of this one: it is replaced by `?`, what a clone that cannot monitor
answers, so the runs through elm327: show that degraded path (the monitor
itself is tested with a scripted adapter in tests/adapters.rs).
"""

import logging
import signal
import sys
import threading

from elm import Elm
from elm import slcan
from elm.obd_message import DT, ECU_R_ADDR_H, ELM_FOOTER, HD, SZ, ST

BCM_REQ = "745"
BCM_RESP = "765"


def answer(*data):
    """One ISO-TP single frame from the BCM (the emulator frames by tags)."""
    return HD(BCM_RESP) + SZ("%02X" % len(data)) + DT(" ".join(data))


def monitor_answers(lockout):
    """The data monitor, poll after poll: a fob trunk press at the fifth
    read (request bit A.5). With the lockout bit (A.7) the BCM ignores it;
    without, it drives the opener (A.4) and the lid opens (B.5)."""
    def at(a, b):
        return answer("61", "44", "%02X" % a, "%02X" % b)
    base = 0x80 if lockout else 0x00
    idle, press = at(base, 0), at(base | 0x20 | (0 if lockout else 0x10), 0)
    after = at(base, 0) if lockout else at(0, 0x20)
    return [idle] * 4 + [press] * 2 + [after] * 34


def scenario(lockout):
    entries = {
        "BCM_SESSION": ("^10C0$", answer("50", "C0")),
        "BCM_LEAVE": ("^1081$", answer("50", "81")),
        "BCM_KEEPALIVE": ("^3E01$", answer("7E", "01")),
        "BCM_DTC": ("^1802FF00$", answer("58", "00")),
        "BCM_MONITOR": ("^2144$", monitor_answers(lockout)),
    }
    msgs = {
        key: {"Request": req, "Descr": key, "Header": BCM_REQ,
              "Response": resp, "Priority": 1}
        for key, (req, resp) in entries.items()
    }
    # The emulator's first 01 00 simulates a protocol search (3 s of
    # SEARCHING...) even after ATSP6 fixed the protocol, which a real
    # adapter does not; and its SLCAN mode answers only the first frame of
    # an answer mixing tags (the hybrid ECU's). The engine ECU and the
    # hybrid ECU answer here, without the search, in frames.
    msgs["ELM_PIDS_A"] = {
        "Request": "^0100" + ELM_FOOTER, "Descr": "PIDS_A",
        "Response": HD("7E8") + SZ("06") + DT("41 00 BE 3F A8 13")
        + HD(ECU_R_ADDR_H) + SZ("06") + DT("41 00 98 3A 80 13")}
    msgs["AT_MA"] = {"Request": "^ATMA$", "Descr": "no monitor",
                     "Response": ST("?"), "Priority": 1}
    return msgs


def fix_slcan_flow_control():
    """ELM327-emulator 4.0.0's SLCAN mode waits for a flow control frame on
    the id of its own first frame (7E8) instead of the tester's (7E0), so it
    never sees one and sends the rest of a long answer only after its 0.5 s
    fallback, later than a tester's P2 allows. Accept the tester's flow
    control, as an ECU does."""
    original = slcan.SlcanServer.process_frame

    def process_frame(self, can_id, data):
        if data and data[0] & 0xF0 == slcan.ISO_TP_FLOW_CONTROL:
            self.flow_control = self.awaiting_fc
            return
        original(self, can_id, data)

    slcan.SlcanServer.process_frame = process_frame


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("elm", "slcan", "tcp"):
        sys.exit(__doc__)
    mode, port = sys.argv[1], sys.argv[2]
    lockout = "--lockout" in sys.argv[3:]
    logging.basicConfig(level=logging.WARNING)
    fix_slcan_flow_control()
    if mode == "tcp":
        kwargs = {"net_port": int(port), "net_interface": "127.0.0.1"}
    else:
        kwargs = {"slcan_port": port} if mode == "slcan" else {"serial_port": port}
    emulator = Elm(batch_mode=True, **kwargs)
    emulator.ObdMessage["trunkdiag"] = scenario(lockout)
    emulator.set_sorted_obd_msg("trunkdiag")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with emulator:
        if mode == "tcp":
            # The emulator binds and listens in its own thread: ready once
            # it has (bind and listen are back to back; the pause covers
            # the gap between them).
            for _ in range(100):
                if getattr(emulator, "sock_inet", None) is not None:
                    break
                stop.wait(0.05)
            stop.wait(0.1)
        # One write: the emulator's own log lines (its thread) go to the
        # same stdout and must not land inside this line.
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        stop.wait()


if __name__ == "__main__":
    main()

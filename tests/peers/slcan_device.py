"""The device side of an SLCAN (Lawicel) adapter, on a pty, bridged onto a
python-can bus: how the foreign peers (can-isotp, udsoncan, scapy,
python-uds-server, gallia through can-isotp) share one CAN bus with
trunkdiag on a machine whose kernel has no CAN at all.

trunkdiag opens the pty's other end as `--iface slcan:PATH`, exactly as it
opens a CANable; the frames it transmits (`tIIILDD..`, `T...`) go onto a
python-can `virtual` bus, and every frame another endpoint of that bus
sends comes back to it as a received-frame line. The virtual bus lives in
this process, so a peer script holds the device and the peer together.

    device = SlcanDevice(channel="bus")   # makes the pty
    peer_bus = can.Bus(interface="virtual", channel="bus")
    print("ready", device.path)           # the test starts trunkdiag on it
    device.wait_open()                    # trunkdiag sent O

What a CANable answers, answered here: `V` (version), `F` (status flags:
none), `S0`-`S8` / `C` / `O` / `L` / `Z0` (CR), a transmit (`z` / `Z`); a
transmit while closed or listen-only, `Z1` and anything unknown get the bell
(0x07). The device counts what it forwarded (`stats`).
"""

import os
import threading
import time
import tty

import can

BELL = b"\x07"


class SlcanDevice:
    def __init__(self, channel):
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        tty.setraw(self.master)
        # Held open here too, so that trunkdiag closing and reopening its end
        # never ends our reads with EIO.
        self.path = os.ttyname(self._slave)
        self.bus = can.Bus(interface="virtual", channel=channel,
                           receive_own_messages=False)
        self._write_lock = threading.Lock()
        self._opened = threading.Event()
        self.is_open = False
        self.listen_only = False
        self.stats = {"to_bus": 0, "from_bus": 0, "refused": 0}
        self.commands = []
        threading.Thread(target=self._from_tester, daemon=True).start()
        threading.Thread(target=self._from_bus, daemon=True).start()

    def wait_open(self, timeout=20.0):
        if not self._opened.wait(timeout):
            raise TimeoutError("trunkdiag never opened the SLCAN channel")

    def _write(self, data):
        with self._write_lock:
            os.write(self.master, data)

    def _from_tester(self):
        pending = b""
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            while b"\r" in pending:
                line, pending = pending.split(b"\r", 1)
                self._write(self._command(line.decode("ascii", "replace")))

    def _command(self, line):
        if not line:
            return b"\r"
        kind = line[0]
        self.commands.append(line if kind not in "tTrR" else kind)
        if kind in "tTrR":
            return self._transmit(line)
        if kind == "V":
            return b"V1013\r"
        if kind == "N":
            return b"NA123\r"
        if kind == "F":
            return b"F00\r"
        if kind == "C":
            self.is_open = False
            return b"\r"
        if kind in "OL":
            self.is_open, self.listen_only = True, kind == "L"
            if kind == "O":
                self._opened.set()
            return b"\r"
        if kind == "S" and line[1:] in [str(n) for n in range(9)]:
            return b"\r"
        if line == "Z0":
            return b"\r"
        return BELL

    def _transmit(self, line):
        kind = line[0]
        id_len = 3 if kind in "tr" else 8
        try:
            can_id = int(line[1:1 + id_len], 16)
            dlc = int(line[1 + id_len], 16)
            data = bytes.fromhex(line[2 + id_len:2 + id_len + 2 * dlc]) \
                if kind in "tT" else b""
        except (ValueError, IndexError):
            return BELL
        if not self.is_open or self.listen_only or dlc > 8 \
                or (kind in "tT" and len(data) != dlc):
            self.stats["refused"] += 1
            return BELL
        self.bus.send(can.Message(arbitration_id=can_id, data=data, dlc=dlc,
                                  is_extended_id=id_len == 8,
                                  is_remote_frame=kind in "rR"))
        self.stats["to_bus"] += 1
        return b"z\r" if kind in "tr" else b"Z\r"

    def _from_bus(self):
        while True:
            msg = self.bus.recv(0.5)
            if msg is None or not self.is_open or msg.is_error_frame \
                    or msg.is_fd:
                continue
            ext = msg.is_extended_id
            letter = ("R" if ext else "r") if msg.is_remote_frame \
                else ("T" if ext else "t")
            ident = "%08X" % msg.arbitration_id if ext \
                else "%03X" % msg.arbitration_id
            data = b"" if msg.is_remote_frame else bytes(msg.data)
            line = "%s%s%d%s\r" % (letter, ident, msg.dlc, data.hex().upper())
            self._write(line.encode("ascii"))
            self.stats["from_bus"] += 1


def ready(device, **extra):
    """Tells the test where the adapter is: one line, flushed."""
    import json
    print("ready", json.dumps({"pty": device.path, **extra}), flush=True)


def wait_forever():
    """Until the test kills this process (SIGTERM or SIGKILL)."""
    import signal
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass


def since(start):
    return time.monotonic() - start

#!/usr/bin/env python3
"""gallia (Apache-2.0) on the CAN bus trunkdiag shares with this process's
SLCAN device (tests/peers/slcan_device.py).

gallia's own CAN transports (isotp://, can-raw://) open kernel sockets,
which a kernel without CAN has not; its tcp-lines transport carries one
UDS message per line in hex. This links the two: can-isotp on the bus,
one ISO-TP message per tcp-lines line.

Usage: gallia_link.py ecu PORT REQ RESP
           gallia's vecu listens on 127.0.0.1:PORT (`gallia script vecu
           tcp://127.0.0.1:PORT rng ...`); each request trunkdiag sends on
           REQ goes to it as a line, each line it answers goes back on RESP.
       gallia_link.py tester PORT REQ RESP
           listens on 127.0.0.1:PORT for a gallia scanner (`--target
           tcp-lines://127.0.0.1:PORT`); each line it sends goes out on REQ
           to the module (`trunkdiag simulate`), each answer on RESP comes
           back as a line.
       gallia_link.py ask PORT HEX [HEX ...]
           asks the vecu on PORT directly, one request after the other, and
           prints each answer as a JSON line (the oracle of the ecu mode).

The link prints `ready {"pty": ...}`, then one JSON line per message it
carried ({"to": "gallia" | "bus", "hex": ...}).
"""

import json
import socket
import sys
import threading

import isotp_link
from slcan_device import SlcanDevice, ready, wait_forever


def say(**what):
    print(json.dumps(what), flush=True)


def carry(layer, conn):
    """ISO-TP messages to lines and lines to ISO-TP messages, until the
    TCP side closes."""
    def to_gallia():
        while True:
            payload = layer.recv(block=True, timeout=0.5)
            if payload is None:
                continue
            say(to="gallia", hex=payload.hex().upper())
            try:
                conn.sendall(payload.hex().encode() + b"\n")
            except OSError:
                return

    threading.Thread(target=to_gallia, daemon=True).start()
    for line in conn.makefile("rb"):
        line = line.strip()
        if not line:
            continue
        payload = bytes.fromhex(line.decode())
        say(to="bus", hex=payload.hex().upper())
        layer.send(payload)


def ask(port, requests):
    with socket.create_connection(("127.0.0.1", port)) as conn:
        pending = b""
        for req in requests:
            conn.sendall(req.lower().encode() + b"\n")
            # A suppressed answer is no line: give up after a second.
            conn.settimeout(1.0)
            try:
                while b"\n" not in pending:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    pending += chunk
            except socket.timeout:
                pass
            answer = None
            if b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                answer = line.strip().decode().upper()
            say(request=req.upper(), answer=answer)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("ecu", "tester", "ask"):
        sys.exit(__doc__)
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "ask":
        ask(port, sys.argv[3:])
        return
    req_id, resp_id = int(sys.argv[3], 16), int(sys.argv[4], 16)
    device = SlcanDevice(channel="bus")
    if mode == "ecu":
        layer = isotp_link.stack("bus", resp_id, req_id)
        layer.start()
        conn = socket.create_connection(("127.0.0.1", port))
        threading.Thread(target=carry, args=(layer, conn),
                         daemon=True).start()
        ready(device)
        wait_forever()
        return
    layer = isotp_link.stack("bus", req_id, resp_id)
    layer.start()
    server = socket.create_server(("127.0.0.1", port))
    ready(device)

    def serve():
        while True:
            conn, _ = server.accept()
            carry(layer, conn)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    wait_forever()


if __name__ == "__main__":
    main()

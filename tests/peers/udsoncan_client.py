#!/usr/bin/env python3
"""udsoncan (MIT), through can-isotp, as the tester of trunkdiag's
simulated BCM (`trunkdiag simulate --iface slcan:PTY`, the pty being this
process's SLCAN device, tests/peers/slcan_device.py).

Usage: udsoncan_client.py TX RX DID[,DID...] PROBE[,PROBE...] SESSION

TX/RX: the BCM's request and response ids (hex); DID: the identifiers the
profile declares; PROBE: identifiers it does not; SESSION: the profile's
diagnostic session. What udsoncan did and saw is printed as JSON lines,
one per step ({"step", "did", "outcome": "positive" | "nrc" | "error",
...}); the test compares them with the profile. Nothing is judged here.
"""

import json
import sys

import udsoncan
from udsoncan.client import Client
from udsoncan.connections import PythonIsoTpConnection
from udsoncan.exceptions import NegativeResponseException

import isotp_link
from slcan_device import SlcanDevice, ready


class Raw(udsoncan.DidCodec):
    """Whatever the DID holds, as hex: the profile says what it should be.
    Of unknown length (the rest of the answer) until a read told it."""

    def __init__(self, length=None):
        self.length = length

    def decode(self, payload):
        return payload.hex().upper()

    def encode(self, *_):
        raise NotImplementedError

    def __len__(self):
        if self.length is None:
            raise udsoncan.DidCodec.ReadAllRemainingData
        return self.length


def say(**what):
    print(json.dumps(what), flush=True)


def attempt(step, fn, **labels):
    try:
        r = fn()
        say(step=step, outcome="positive", **labels, **(r or {}))
    except NegativeResponseException as e:
        say(step=step, outcome="nrc", nrc="%02X" % e.response.code,
            **labels)
    except Exception as e:  # any other exception is a finding too
        say(step=step, outcome="error", error=type(e).__name__,
            message=str(e), **labels)


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    tx, rx = int(sys.argv[1], 16), int(sys.argv[2], 16)
    dids = [int(d, 16) for d in sys.argv[3].split(",") if d]
    probes = [int(d, 16) for d in sys.argv[4].split(",") if d]
    session = int(sys.argv[5], 16)
    device = SlcanDevice(channel="bus")
    ready(device)
    device.wait_open()
    layer = isotp_link.stack("bus", tx, rx)
    config = dict(udsoncan.configs.default_client_config)
    codecs = {d: Raw() for d in dids + probes}
    config["data_identifiers"] = codecs
    config["request_timeout"] = 6
    with Client(PythonIsoTpConnection(layer), config=config) as client:
        def read(did):
            def go():
                r = client.read_data_by_identifier(did)
                data = r.service_data.values[did]
                codecs[did].length = len(data) // 2
                return {"data": data}
            return go

        def change(s):
            def go():
                r = client.change_session(s).service_data
                return {"p2_ms": round(r.p2_server_max * 1000),
                        "p2_star_ms": round(r.p2_star_server_max * 1000)}
            return go

        for did in dids:
            attempt("read-default", read(did), did="%04X" % did)
        attempt("session", change(session), session="%02X" % session)
        attempt("tester-present", lambda: client.tester_present() and {})
        for did in dids:
            attempt("read-session", read(did), did="%04X" % did)
        for did in probes:
            attempt("read-undeclared", read(did), did="%04X" % did)
        if len(dids) > 1:
            def both():
                r = client.read_data_by_identifier(dids)
                return {"data": [r.service_data.values[d] for d in dids]}
            attempt("read-several", both,
                    did=",".join("%04X" % d for d in dids))

        def dtcs():
            r = client.get_dtc_by_status_mask(0xFF).service_data
            return {"dtcs": ["%06X" % d.id for d in r.dtcs],
                    "status_mask": "%02X" % r.status_availability.get_byte_as_int()}
        attempt("dtc-read", dtcs)
        attempt("ecu-reset", lambda: client.ecu_reset(1) and {})
        attempt("default-session", change(1), session="01")
        for did in dids:
            attempt("read-after", read(did), did="%04X" % did)
    say(step="end", bridge=device.stats)


if __name__ == "__main__":
    main()

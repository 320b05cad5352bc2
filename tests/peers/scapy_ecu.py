#!/usr/bin/env python3
"""A body module made of scapy's EcuAnsweringMachine (scapy, GPL-2.0:
installed from PyPI by scripts/py-peers, never copied into this
repository), on scapy's own ISO-TP (ISOTPSoftSocket) over python-can,
answering trunkdiag's client through this process's SLCAN device
(tests/peers/slcan_device.py).

Usage: scapy_ecu.py kwp REQ RESP LID DTC[,DTC...] [--lockout]
       scapy_ecu.py uds REQ RESP DID[,DID...] DTC[,DTC...]

kwp: a KWP2000 module (scapy's KWP layer): StartDiagnosticSession 10 C0 /
     10 81, TesterPresent 3E 01 (scapy's KWP_TPPR: `7E` alone, as ISO
     14230-3 words it), ReadDataByLocalIdentifier LID (only in session C0,
     else 7F 21 80), trouble codes 18 02 FF 00 (DTC: 2-byte codes in hex).
     The data monitor shows a fob press at the fifth read; with --lockout
     the lockout bit (A.7) is set and the opener is never driven.
uds: a UDS module (scapy's UDS layer, its session states): 10 01 / 10 03,
     3E 00, ReadDataByIdentifier DID (each answering 2 bytes: its own id
     reversed, only in session 3, else 7F 22 31), 19 02 with DTC (3-byte
     codes in hex, status 09).

Anything else gets scapy's default answer, a generalReject (7F xx 10).
Every request heard is printed as a JSON line ({"request": hex,
"reply": hex}), so the test sees the conversation as the module saw it.
"""

import json
import sys
import threading

from scapy.config import conf
conf.contribs["CANSocket"] = {"use-python-can": True}
conf.contribs["ISOTP"] = {"use-can-isotp-kernel-module": False}
from scapy.packet import Raw  # noqa: E402
from scapy.contrib.cansocket_python_can import PythonCANSocket  # noqa: E402
from scapy.contrib.isotp import ISOTPSoftSocket  # noqa: E402
from scapy.contrib.automotive.ecu import (  # noqa: E402
    EcuAnsweringMachine, EcuResponse, EcuState)
from scapy.contrib.automotive.kwp import KWP, KWP_SDSPR, KWP_TPPR  # noqa: E402
from scapy.contrib.automotive.uds import (  # noqa: E402
    UDS, UDS_DSCPR, UDS_RDBIPR, UDS_TPPR, UDS_NR)
import scapy.contrib.automotive.uds_ecu_states  # noqa: E402,F401

from slcan_device import SlcanDevice, ready, wait_forever  # noqa: E402


# scapy tracks UDS sessions itself (uds_ecu_states); for KWP it has no
# modifier, so a positive StartDiagnosticSession sets the session here the
# same way.
@EcuState.extend_pkt_with_modifier(KWP_SDSPR)
def _kwp_session(self, req, state):
    state.session = self.diagnosticSession


def raw_request(prefix):
    """An EcuResponse `answers` for a request scapy has no layer for."""
    return lambda resp, req: bytes(req)[:len(prefix)] == prefix


def kwp_responses(lid, dtcs, lockout):
    polls = {"n": 0}

    def monitor(resp, req):
        if bytes(req) != bytes([0x21, lid]):
            return False
        polls["n"] += 1
        return True

    class Monitor(EcuResponse):
        """The data monitor: the fob press at the fifth read."""

        @property
        def responses(self):
            n = polls["n"]
            base = 0x80 if lockout else 0x00
            a, b = base, 0
            if n in (5, 6):
                a |= 0x20 | (0 if lockout else 0x10)
            elif n > 6 and not lockout:
                b = 0x20
            from scapy.plist import PacketList
            return PacketList([KWP(bytes([0x61, lid, a, b]))])

    dtc_reply = bytes([0x58, len(dtcs)]) + b"".join(
        bytes.fromhex(d) + b"\x09" for d in dtcs)
    return [
        EcuResponse(None, KWP() / KWP_SDSPR(diagnosticSession=0xC0)),
        EcuResponse(None, KWP() / KWP_SDSPR(diagnosticSession=0x81)),
        EcuResponse(None, KWP() / KWP_TPPR()),
        Monitor(EcuState(session=0xC0), KWP(bytes([0x61, lid])),
                answers=monitor),
        EcuResponse(None, KWP(bytes([0x7F, 0x21, 0x80])),
                    answers=raw_request(bytes([0x21, lid]))),
        EcuResponse(None, KWP(dtc_reply),
                    answers=raw_request(bytes([0x18, 0x02, 0xFF, 0x00]))),
    ]


def uds_responses(dids, dtcs):
    dtc_reply = bytes([0x59, 0x02, 0xFF]) + b"".join(
        bytes.fromhex(d) + b"\x09" for d in dtcs)
    out = [
        EcuResponse(None, UDS() / UDS_DSCPR(
            diagnosticSessionType=s,
            sessionParameterRecord=b"\x00\x32\x01\xF4")) for s in (1, 3)
    ]
    out.append(EcuResponse(None, UDS() / UDS_TPPR()))
    for did in dids:
        value = did.to_bytes(2, "big")[::-1]
        out.append(EcuResponse(EcuState(session=3),
                               UDS() / UDS_RDBIPR(dataIdentifier=did)
                               / Raw(value)))
        out.append(EcuResponse(None, UDS() / UDS_NR(requestServiceId=0x22,
                                                    negativeResponseCode=0x31),
                               answers=raw_request(
                                   b"\x22" + did.to_bytes(2, "big"))))
    out.append(EcuResponse(None, UDS(dtc_reply),
                           answers=raw_request(b"\x19\x02")))
    return out


class LoggingEcu(EcuAnsweringMachine):
    def make_reply(self, req):
        reply = super().make_reply(req)
        print(json.dumps({"request": bytes(req).hex().upper(),
                          "reply": [bytes(p).hex().upper() for p in reply]}),
              flush=True)
        return reply


def main():
    if len(sys.argv) < 6 or sys.argv[1] not in ("kwp", "uds"):
        sys.exit(__doc__)
    mode = sys.argv[1]
    req_id, resp_id = int(sys.argv[2], 16), int(sys.argv[3], 16)
    ids = [int(x, 16) for x in sys.argv[4].split(",") if x]
    dtcs = [x for x in sys.argv[5].split(",") if x]
    device = SlcanDevice(channel="bus")
    basecls = KWP if mode == "kwp" else UDS
    can_socket = PythonCANSocket(interface="virtual", channel="bus")
    sock = ISOTPSoftSocket(can_socket, tx_id=resp_id, rx_id=req_id,
                           padding=True, basecls=basecls)
    if mode == "kwp":
        responses = kwp_responses(ids[0], dtcs, "--lockout" in sys.argv[6:])
    else:
        responses = uds_responses(ids, dtcs)
    ecu = LoggingEcu(supported_responses=responses, main_socket=sock,
                     basecls=basecls, verbose=False)
    threading.Thread(target=ecu, daemon=True).start()
    ready(device)
    wait_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""python-uds-server (MIT) as the body module trunkdiag's client talks to,
on can-isotp over this process's SLCAN device (tests/peers/slcan_device.py).

Usage: uds_server_ecu.py REQ RESP SESSION DID[,DID...] DTC[,DTC...]

REQ/RESP: the module's ids (hex). Sessions 01 and SESSION, each with the
server's default S3 of 5 s (a non-default session left quiet that long
falls back to 01). The DIDs (hex) can be read in SESSION only (each
answers 2 bytes: its own id reversed); F190 (a VIN) in any session. DTC:
3-byte codes (hex), status 09, for ReadDTCInformation.

Every request is printed as a JSON line: the request, the reply, the
session the server is in after it (so a request that found the session
lapsed shows 01) and the seconds since the server started.
"""

import json
import sys
import time

from uds_server import (AccessRule, DiagnosticSession, DidDefinition,
                        UdsServer)
from uds_server.dtc import DtcDefinition
from uds_server.transport import IsoTpTransport

import isotp_link
from slcan_device import SlcanDevice, ready, wait_forever

VIN = b"3FA6P0H79HR000001"


class LoggingServer(UdsServer):
    def handle_request(self, request):
        reply = super().handle_request(request)
        print(json.dumps({
            "request": bytes(request).hex().upper(),
            "reply": bytes(reply).hex().upper(),
            "session": "%02X" % self.current_session,
            "t": round(time.monotonic() - START, 3),
        }), flush=True)
        return reply


START = time.monotonic()


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    req_id, resp_id = int(sys.argv[1], 16), int(sys.argv[2], 16)
    session = int(sys.argv[3], 16)
    dids = [int(x, 16) for x in sys.argv[4].split(",") if x]
    dtcs = [int(x, 16) for x in sys.argv[5].split(",") if x]
    device = SlcanDevice(channel="bus")
    layer = isotp_link.stack("bus", resp_id, req_id)
    in_session = AccessRule(allowed_sessions=frozenset({session}))
    server = LoggingServer(
        transport=IsoTpTransport(layer),
        sessions=[DiagnosticSession(0x01), DiagnosticSession(session)],
        dids=[DidDefinition(identifier=0xF190, length=len(VIN),
                            read_callback=lambda: VIN)]
        + [DidDefinition(identifier=d, length=2, access_rule=in_session,
                         read_callback=(lambda d=d: d.to_bytes(2, "big")[::-1]))
           for d in dids],
    )
    for code in dtcs:
        server.register_dtc(DtcDefinition(identifier=code, status=0x09))
    server.start()
    ready(device)
    wait_forever()
    server.stop()


if __name__ == "__main__":
    main()

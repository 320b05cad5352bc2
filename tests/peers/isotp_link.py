"""can-isotp (MIT) on the python-can virtual bus the SLCAN device bridges:
the foreign ISO-TP every peer but scapy (which has its own) talks through.

Normal 11-bit addressing, frames padded to 8 bytes with 0xCC, block size 0
and STmin 0 (the peers on this bus are software), and a receive timeout
long enough for a tester's P2* (5 s)."""

import can
import isotp


def stack(channel, txid, rxid):
    bus = can.Bus(interface="virtual", channel=channel,
                  receive_own_messages=False)
    notifier = can.Notifier(bus, [], timeout=0.1)
    address = isotp.Address(isotp.AddressingMode.Normal_11bits,
                            txid=txid, rxid=rxid)
    params = {
        "stmin": 0,
        "blocksize": 0,
        "tx_padding": 0xCC,
        "tx_data_min_length": 8,
        "rx_flowcontrol_timeout": 1000,
        "rx_consecutive_frame_timeout": 1000,
        "blocking_send": False,
    }
    layer = isotp.NotifierBasedCanStack(bus, notifier, address=address,
                                        params=params)
    return layer

# ISO-TP extended addressing against the kernel's (issue 22): our
# IsoTpChannel with an address byte before every N_PCI (0x40 ours, 0x58 the
# kernel's) sends to `isotprecv -x 58:40` and receives from
# `isotpsend -x 58:40`, single- and multi-frame, padding on and off, block
# size and STmin on both sides. The Rust side is tests/vcan.rs, the
# isotp_extended_* tests.

TRUNKDIAG_VCAN=1 run_libtest isotp-extended /tests/vcan isotp_extended_

# ISO-TP against the kernel's (issue 6, group 3): our IsoTpChannel over
# SocketCanBus sends to isotprecv and receives from isotpsend, sizes 1, 7, 8,
# 62, 63, 4095, padding on and off (checked by the kernel with -P), block
# size and STmin on both sides, classic and CAN FD (TX_DL 64, BRS, MTU 72).
# The Rust side is tests/vcan.rs, the isotp_kernel_* tests.

TRUNKDIAG_VCAN=1 run_libtest isotp-kernel /tests/vcan isotp_kernel_

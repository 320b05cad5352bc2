# Our SocketCAN transport (tests/vcan.rs) against the kernel, judged by
# candump/cansend. Each libtest result line becomes one check.

TRUNKDIAG_VCAN=1 run_libtest rust-vcan /tests/vcan --skip a_kernel_without_can_says_so --skip isotp_kernel_ --skip recording_

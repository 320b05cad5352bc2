# Our SocketCAN transport (tests/vcan.rs) against the kernel, judged by
# candump/cansend. Each libtest result line becomes one check. (The
# vm_suite_* tests try lib.sh on the host; the guest has no checkout.)

TRUNKDIAG_VCAN=1 run_libtest rust-vcan /tests/vcan --skip a_kernel_without_can_says_so --skip isotp_kernel_ --skip recording_ --skip vm_suite_

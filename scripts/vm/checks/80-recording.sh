# Recording fidelity (issue 6, group 5): the frames trunkdiag writes with
# --record and what candump -L records of the same run are the same, frame
# for frame (ids, data, flags), once timestamps are cut off.
#
# `request --record` against a UDS responder with bystander traffic (CAN FD
# with BRS, remote, 29-bit): the recording_* tests of tests/vcan.rs.
TRUNKDIAG_VCAN=1 run_libtest recording /tests/vcan recording_

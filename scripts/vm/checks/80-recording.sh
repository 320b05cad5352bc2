# Recording fidelity (issue 6, group 5): the frames trunkdiag writes with
# --record and what candump -L records of the same run are the same, frame
# for frame (ids, data, flags), once timestamps are cut off.
#
# `request --record` against a UDS responder with bystander traffic (CAN FD
# with BRS, remote, 29-bit): the recording_* tests of tests/vcan.rs.
# (The live-run test below needs a run's directory: without one it would
# skip, which run_libtest counts as a failure.)
TRUNKDIAG_VCAN=1 run_libtest recording /tests/vcan recording_ --skip recording_of_a_live_run

# The live runs of group 1: diagnose --record and simulate --record against
# the candump -l recording of the same bus (recording_of_a_live_run_*).
runs=0
for d in /tmp/live/*/; do
    [ -f "$d/diag.log" ] || continue
    TRUNKDIAG_VCAN=1 TRUNKDIAG_LIVE_RUN=$d run_libtest "recording-live/$(basename "$d")" \
        /tests/vcan --exact recording_of_a_live_run_matches_candump
    runs=$((runs + 1))
done
# No live run compared is a group that proved nothing, not a pass.
[ "$runs" -gt 0 ] || fail recording-live "no live run of group 40 in /tmp/live to compare"

# can-utils as recorder and player (issue 6, group 2).
#  - candump -l recorded each live run of group 1: `diagnose --replay` of
#    that recording must give the live verdict (id and confidence); so must
#    the replay of trunkdiag's own --record.
#  - canplayer plays each bundled capture (tests/data/diagnose) onto a vcan
#    interface while `diagnose --iface --no-prompt` listens: the same top
#    verdict as the offline replay of that capture.
. /vm/checks/live.inc

for d in "$LIVE"/*/; do
    s=$(basename "$d")
    live=$(top_verdict "$d/diag.json")
    [ -n "$live" ] || continue   # group 1 reported that run already
    obs=$(observations "$s")
    for rec in "$d"candump-*.log "$d/diag.log"; do
        what=candump
        case "$rec" in *diag.log) what=trunkdiag-record ;; esac
        # shellcheck disable=SC2086
        timeout 30 trunkdiag diagnose --replay "$rec" --profile "$PROFILE" --json $obs \
            > "$d/replay-$what.json" 2> "$d/replay-$what.err"
        got=$(top_verdict "$d/replay-$what.json")
        if [ "$got" = "$live" ]; then
            pass "replay-$what/$s"
        else
            fail "replay-$what/$s" "replay of $(basename "$rec") gave '$got', live gave '$live'; $(tail -n 1 "$d/replay-$what.err")"
        fi
    done
done

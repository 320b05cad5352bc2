# A GM car live over vcan (issue 23): the simulated Chevrolet Equinox, whose
# body frames are 29-bit GMLAN parameter ids (one arbitration id under
# several priorities and sender addresses) and whose body module answers
# GMLAN diagnostics on 0x241 -> 0x641 with its trouble codes as UUDT frames
# on 0x541, diagnosed by `trunkdiag diagnose --iface` through SocketCAN.
# The top verdict must be the scenario's cause, and candump's own log of
# the wire must hold the GMLAN trouble-code read, its UUDT end-of-report
# frame and the lid frame (arbitration id 0x355) under two 29-bit ids.
. /vm/checks/live.inc
mkdir -p "$LIVE"

for run in "chevrolet-equinox-2018-2024 valet-lockout vcanG" \
           "chevrolet-malibu-2016-2024 low-battery vcanH"; do
    set -- $run
    profile=$1 s=$2 iface=$3
    d=$LIVE/gm-$profile-$s
    live_run "$s" "$iface" "$d" "$profile" > "$d.out" 2>&1
    got=$(top_verdict "$d/diag.json" 2>/dev/null)
    rc=$(cat "$d/diag.rc" 2>/dev/null)
    if [ "${got%% *}" = "$s" ] && [ "$rc" = 1 ]; then
        pass "gm/$profile/$s"
    else
        fail "gm/$profile/$s" "top verdict '$got' exit ${rc:-none}, expected $s exit 1;" \
            "$(tail -n 3 "$d/diag.err" 2>/dev/null)"
    fi
    log=$(ls "$d"/candump-*.log 2>/dev/null | head -n 1)
    # 29-bit ids whose arbitration id ((id >> 13) & 0x1FFF) is 0x355.
    lid_ids=$(awk '{ split($3, a, "#"); if (length(a[1]) == 8) print a[1] }' "$log" 2>/dev/null \
        | sort -u | while read -r id; do
            [ $(( (0x$id >> 13) & 0x1FFF )) -eq $((0x355)) ] && echo "$id"
        done | wc -l)
    if grep -q " 241#03A981" "$log" && grep -q " 541#81000000FF" "$log" && [ "$lid_ids" -ge 2 ]; then
        pass "gm/$profile/$s/gmlan-on-the-wire"
    else
        fail "gm/$profile/$s/gmlan-on-the-wire" "lid frame under $lid_ids ids;" \
            "$(grep -m 3 -E ' (241|541|641)#' "$log" 2>/dev/null)"
    fi
done

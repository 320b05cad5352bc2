# The Toyota and Hyundai profiles live over vcan (issue 22): the simulated
# Camry, whose body ECU answers on 0x758 with ISO-TP extended addressing
# (address byte 0x40) and whose body frames are multiplexed by byte 0, and
# the simulated Kona, reached through its IGPM's UDS data, each diagnosed
# by `trunkdiag diagnose --iface` through SocketCAN. The top verdict must be
# the scenario's cause; the Camry's recording must hold extended-addressed
# requests to 0x750 and answers from 0x758 starting with 0x40.
. /vm/checks/live.inc
mkdir -p "$LIVE"

for run in "toyota-camry-2018-2024 trunk-wiring vcanT" \
           "toyota-camry-2018-2024 release-inhibited vcanU" \
           "hyundai-kona-2018-2023 bcm-fault vcanK" \
           "hyundai-kona-2018-2023 release-inhibited vcanL"; do
    set -- $run
    profile=$1 s=$2 iface=$3
    d=$LIVE/more-$profile-$s
    live_run "$s" "$iface" "$d" "$profile" > "$d.out" 2>&1
    got=$(top_verdict "$d/diag.json" 2>/dev/null)
    rc=$(cat "$d/diag.rc" 2>/dev/null)
    if [ "${got%% *}" = "$s" ] && [ "$rc" = 1 ]; then
        pass "more-makes/$profile/$s"
    else
        fail "more-makes/$profile/$s" "top verdict '$got' exit ${rc:-none}, expected $s exit 1;" \
            "$(tail -n 3 "$d/diag.err" 2>/dev/null)"
    fi
    case $profile in
        toyota-*)
            # candump's own log of the wire: requests 750#40.., answers 758#40..
            if grep -q " 750#40" "$d"/candump-*.log && grep -q " 758#40" "$d"/candump-*.log \
                && ! grep -q " 758#[^4]" "$d"/candump-*.log; then
                pass "more-makes/$profile/$s/extended-on-the-wire"
            else
                fail "more-makes/$profile/$s/extended-on-the-wire" \
                    "$(grep -m 3 -E ' 75[08]#' "$d"/candump-*.log)"
            fi
            ;;
    esac
done

# Faults in the middle of a live diagnosis (issue 6, group 4), three runs at
# once, each bounded by `timeout`:
#  - the interface deleted (adapter unplugged), or set down: a clear error,
#    exit 2, and the --record file kept with what was seen so far, every
#    line a valid candump line (trunkdiag capture stats reads it strictly);
#  - the simulator killed mid-session: a bcm-unreachable-type verdict or a
#    clear timeout error, never a hang.
. /vm/checks/live.inc

# fault_run KIND IFACE DIR: a healthy car, then KIND once diagnose has
# recorded 40 frames (its session and first reads are under way).
fault_run() {
    local kind=$1 iface=$2 dir=$3 sim diag start end
    rm -rf "$dir"; mkdir -p "$dir"
    fresh_vcan "$iface" || return 1
    trunkdiag simulate --profile "$PROFILE" --scenario no-fault-found --iface "$iface" \
        2> "$dir/sim.err" &
    sim=$!
    wait_listeners "$iface" 1 || return 1
    start=$(cut -d' ' -f1 /proc/uptime)
    timeout 40 trunkdiag diagnose --iface "$iface" --profile "$PROFILE" --no-prompt --json \
        --listen $LISTEN --record "$dir/diag.log" > "$dir/diag.json" 2> "$dir/diag.err" &
    diag=$!
    wait_lines "$dir/diag.log" 40 || { kill $sim $diag; return 1; }
    case $kind in
        del) ip link del dev "$iface" ;;
        down) ip link set "$iface" down ;;
        silent) kill -9 $sim ;;
    esac
    wait $diag
    echo $? > "$dir/diag.rc"
    end=$(cut -d' ' -f1 /proc/uptime)
    echo "$start $end" > "$dir/times"
    kill -9 $sim 2>/dev/null
    wait $sim 2>/dev/null
    ip link del dev "$iface" 2>/dev/null
    return 0
}

F=/tmp/faults
pids=
for kind in del down silent; do
    fault_run $kind "vf$kind" "$F/$kind" > "$F-$kind.out" 2>&1 &
    pids="$pids $!"
done
for p in $pids; do wait "$p"; done

# check_bus_error KIND WORDS: exit 2, the error on stderr names the cause,
# and the recording so far is on disk and valid.
check_bus_error() {
    local d=$F/$1 rc frames
    rc=$(cat "$d/diag.rc" 2>/dev/null)
    [ "$rc" = 2 ] || { fail "faults/$1" "exit '$rc' (124: timeout = hang), expected 2; $(cat "$F-$1.out") $(tail -n 2 "$d/diag.err")"; return; }
    grep -q "$2" "$d/diag.err" || { fail "faults/$1" "stderr does not say '$2': $(tail -n 2 "$d/diag.err")"; return; }
    frames=$(trunkdiag capture stats "$d/diag.log" 2>&1) \
        || { fail "faults/$1" "the recording is not a valid candump log: $(echo "$frames" | tail -n 1)"; return; }
    [ "$(grep -c '^(' "$d/diag.log")" -ge 40 ] || { fail "faults/$1" "the recording lost frames"; return; }
    pass "faults/$1"
}
# The interface may vanish while a tester is open ("was removed") or
# between two (diagnose opens one per phase: "no CAN interface named").
check_bus_error del "was removed\|no CAN interface named"
check_bus_error down "went down\|is down"

d=$F/silent
echo "faults: silent BCM: exit $(cat "$d/diag.rc" 2>/dev/null), verdict '$(top_verdict "$d/diag.json" 2>/dev/null)', $(tail -n 1 "$d/diag.err" 2>/dev/null)"
rc=$(cat "$d/diag.rc" 2>/dev/null)
got=$(top_verdict "$d/diag.json" 2>/dev/null)
if [ "$rc" = 1 ] && [ "${got%% *}" = bcm-unreachable ]; then
    pass "faults/silent-bcm"
elif [ "$rc" = 2 ] && grep -qi "no response\|timeout\|timed out" "$d/diag.err"; then
    pass "faults/silent-bcm"
else
    fail "faults/silent-bcm" "exit '$rc' (124: hang) verdict '$got'; $(cat "$F-silent.out") $(tail -n 2 "$d/diag.err")"
fi

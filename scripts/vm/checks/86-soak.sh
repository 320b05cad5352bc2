# A long run (issue 16), two of them, with body traffic at a real car's rate
# (2000 frames/s from canplayer, looping one second of 20 ids every 10 ms):
#  - listen: `diagnose --iface --listen SOAK` of the simulated valet lockout:
#    its peak resident set at the end is within 10 % of the value after
#    60 s, and the verdict is still right;
#  - record: `trunkdiag record` of SOAK seconds of that traffic (stopped
#    by Ctrl-C after it): the same frames, in the same order, as `candump -l`
#    of the same interface.
# SOAK_SECONDS sets both (default 90; 600 for the full soak: ten minutes of
# each). The figures are printed as `note:` lines.
. /vm/checks/live.inc
. /vm/checks/load.inc
[ -f /vm/env ] && . /vm/env

SOAK=${SOAK_SECONDS:-90}
RECORD=$SOAK
SCEN=valet-lockout
S=/tmp/soak
# The memory after this many seconds is the reference of the end's.
SETTLED=60
mkdir -p $S
body_log $S/body.log

# soak_listen IFACE DIR
soak_listen() {
    local iface=$1 dir=$2 sim body diag
    mkdir -p "$dir"
    fresh_vcan "$iface" || return 1
    trunkdiag simulate --profile "$PROFILE" --scenario $SCEN --iface "$iface" 2> "$dir/sim.err" &
    sim=$!
    wait_listeners "$iface" 1 || return 1
    canplayer -l i -I $S/body.log "$iface=can0" 2> "$dir/body.err" &
    body=$!
    # shellcheck disable=SC2046
    timeout $((SOAK + 120)) trunkdiag diagnose --iface "$iface" \
        --profile "$PROFILE" --no-prompt --json --listen "$SOAK" $(observations $SCEN) \
        > "$dir/diag.json" 2> "$dir/diag.err" &
    diag=$!
    watch_rss $diag "$dir/rss" $SETTLED
    wait $diag
    echo $? > "$dir/diag.rc"
    stop_pid $body
    kill -INT $sim 2>/dev/null
    stop_pid $sim
}

# soak_record IFACE DIR: RECORD seconds of traffic (longer on a slow
# guest: canplayer loops its second RECORD times), all of it inside the
# recording, ended by Ctrl-C once the traffic stopped, and inside candump's.
soak_record() {
    local iface=$1 dir=$2 rec
    mkdir -p "$dir"
    fresh_vcan "$iface" || return 1
    start_candump "$iface" "$dir" || return 1
    timeout $((2 * RECORD + 120)) trunkdiag record --iface "$iface" -o "$dir/rec.log" \
        2> "$dir/rec.err" &
    rec=$!
    wait_listeners "$iface" 2 || return 1
    cut -d' ' -f1 /proc/uptime > "$dir/start"
    canplayer -l $RECORD -I $S/body.log "$iface=can0" 2> "$dir/body.err"
    cut -d' ' -f1 /proc/uptime > "$dir/end"
    sleep 1
    kill -INT $rec
    wait $rec
    echo $? > "$dir/rec.rc"
    stop_pid $dump_pid
}

# One after the other: the guest is one emulated CPU, and two buses at
# 2000 frames/s each with five processes reading them is more than it has.
soak_record vsoak1 $S/record > $S/record.out 2>&1
soak_listen vsoak0 $S/listen > $S/listen.out 2>&1

d=$S/listen
settled=$(cat "$d/rss.at" 2>/dev/null)
peak=$(cat "$d/rss" 2>/dev/null)
echo "note: soak/listen: ${SOAK} s at 2000 frames/s: peak RSS ${settled:-?} kB after ${SETTLED} s, ${peak:-?} kB at the end"
echo "note: soak/listen: peak RSS (kB) at each minute: $(awk '{ printf "%s%s:%s", sep, $1, $2; sep = " " }' "$d/rss.series" 2>/dev/null)"
if [ -n "$settled" ] && [ -n "$peak" ] && [ $((peak * 10)) -le $((settled * 11)) ]; then
    pass "soak/listen-memory"
else
    fail "soak/listen-memory" "peak RSS ${settled:-?} kB after ${SETTLED} s, ${peak:-?} kB after ${SOAK} s (more than 10 % growth); $(cat $S/listen.out) $(tail -n 1 "$d/diag.err")"
fi
got=$(top_verdict "$d/diag.json" 2>/dev/null)
rc=$(cat "$d/diag.rc" 2>/dev/null)
if [ "${got%% *}" = $SCEN ] && [ "$rc" = 1 ]; then
    pass "soak/listen-verdict"
else
    fail "soak/listen-verdict" "top verdict '$got' exit ${rc:-none}, expected $SCEN exit 1; $(tail -n 2 "$d/diag.err")"
fi

d=$S/record
echo "note: soak/record: ${RECORD} loops of 1 s of traffic played in $(awk -v a="$(cat "$d/start")" -v b="$(cat "$d/end")" 'BEGIN { printf "%.0f", b - a }') s; $(tail -n 1 "$d/rec.err")"
if [ "$(cat "$d/rec.rc" 2>/dev/null)" = 0 ]; then
    same_frames soak/record "$(ls "$d"/candump-*.log)" "$d/rec.log"
else
    fail soak/record "trunkdiag record exit $(cat "$d/rec.rc" 2>/dev/null): $(cat $S/record.out) $(tail -n 1 "$d/rec.err")"
fi

# A saturated bus (issue 16). While `diagnose --iface --record` diagnoses the
# simulated valet lockout, a burst of frames is sent as fast as the sender
# can, on an id the profile does not use:
#  - full: cangen with no gap (-g 0), 8-byte frames with counting data;
#  - errors: canplayer -t with no gap, 30 % of the frames error frames (a
#    raw socket sending CAN_ERR_FLAG frames, as a controller reports errors).
# Judged: the top verdict is still valet-lockout; the recording holds every
# frame of the burst that `candump -l` (error frames on) recorded, in the same order with
# the same data; diagnose's peak resident set stays within 2x that of the
# same diagnosis on a quiet bus (the run before). The figures are printed as
# `note:` lines.
. /vm/checks/live.inc
. /vm/checks/load.inc

SAT=/tmp/saturated
SCEN=valet-lockout
BURST=${SATURATED_FRAMES:-3000}
# Long enough for the burst to end while diagnose still listens (it took up
# to 9 s on a loaded host): frames after the end are nobody's to record.
SAT_LISTEN=20
LOAD='2A0#|20000004#'

# listeners IFACE: the raw receive filters on IFACE (a socket that takes
# error frames has two).
listeners() {
    grep -c "^ *$1 .* raw\$" /proc/net/can/rcvlist_all
}

# sat_run KIND IFACE DIR: candump -l (error frames on), the simulated car, diagnose, and
# once diagnose listens, the burst of KIND (quiet: none).
sat_run() {
    local kind=$1 iface=$2 dir=$3 sim diag rss n
    rm -rf "$dir"
    mkdir -p "$dir"
    fresh_vcan "$iface" || return 1
    # ",#FFFFFFFF": every error class too (candump takes none by default).
    (cd "$dir" && exec candump -l "$iface,0:0,#FFFFFFFF") &
    dump_pid=$!
    wait_listeners "$iface" 1 || return 1
    n=$(listeners "$iface")
    trunkdiag simulate --profile "$PROFILE" --scenario $SCEN --iface "$iface" 2> "$dir/sim.err" &
    sim=$!
    wait_listeners "$iface" $((n + 1)) || return 1
    n=$(listeners "$iface")
    # shellcheck disable=SC2046
    timeout 60 trunkdiag diagnose --iface "$iface" --profile "$PROFILE" \
        --no-prompt --json --listen $SAT_LISTEN --record "$dir/diag.log" $(observations $SCEN) \
        > "$dir/diag.json" 2> "$dir/diag.err" &
    diag=$!
    watch_rss $diag "$dir/rss" &
    rss=$!
    wait_listeners "$iface" $((n + 1)) || return 1
    cut -d' ' -f1 /proc/uptime > "$dir/load.start"
    case $kind in
        full) cangen "$iface" -g 0 -p 10 -I 2A0 -L 8 -D i -n "$BURST" 2> "$dir/load.err" ;;
        errors)
            error_mix_log "$dir/load.log" "$BURST"
            canplayer -t -g 0 -I "$dir/load.log" "$iface=can0" 2> "$dir/load.err"
            ;;
    esac
    echo $? > "$dir/load.rc"
    cut -d' ' -f1 /proc/uptime > "$dir/load.end"
    wait $diag
    echo $? > "$dir/diag.rc"
    wait $rss
    kill -INT $sim 2>/dev/null
    stop_pid $sim
    stop_pid $dump_pid
}

# The guest is one emulated CPU (TCG): a sender at full speed takes most of
# it, and every receiver falls behind until the burst ends. The sockets get
# room for the whole burst (32 MiB of receive buffer, candump's and ours
# alike, as `candump -r` would), so what is judged is whether trunkdiag
# loses or damages a frame, not how fast an emulated CPU is.
rmem=$(cat /proc/sys/net/core/rmem_default)
rmem_max=$(cat /proc/sys/net/core/rmem_max)
echo 33554432 > /proc/sys/net/core/rmem_max
echo 33554432 > /proc/sys/net/core/rmem_default
for kind in quiet full errors; do
    sat_run $kind vsat0 "$SAT/$kind" > "$SAT-$kind.out" 2>&1
done
echo "$rmem" > /proc/sys/net/core/rmem_default
echo "$rmem_max" > /proc/sys/net/core/rmem_max

quiet=$(cat "$SAT/quiet/rss" 2>/dev/null)
echo "note: saturated: quiet diagnosis peak RSS ${quiet:-?} kB"
for kind in quiet full errors; do
    d=$SAT/$kind
    got=$(top_verdict "$d/diag.json" 2>/dev/null)
    rc=$(cat "$d/diag.rc" 2>/dev/null)
    if [ "${got%% *}" = $SCEN ] && [ "$rc" = 1 ]; then
        pass "saturated/$kind/verdict"
    else
        fail "saturated/$kind/verdict" "top verdict '$got' exit ${rc:-none}, expected $SCEN exit 1;" \
            "$(cat "$SAT-$kind.out") $(tail -n 2 "$d/diag.err" 2>/dev/null)"
    fi
    [ $kind = quiet ] && continue
    [ "$(cat "$d/load.rc" 2>/dev/null)" = 0 ] \
        || fail "saturated/$kind/load" "the load generator failed: $(tail -n 1 "$d/load.err")"
    same_frames "saturated/$kind/recording" "$(ls "$d"/candump-*.log)" "$d/diag.log" "$LOAD"
    peak=$(cat "$d/rss" 2>/dev/null)
    took=$(awk -v a="$(cat "$d/load.start")" -v b="$(cat "$d/load.end")" -v n="$BURST" \
        'BEGIN { printf "%.2f s, %d frames/s", b - a, n / (b - a + 0.005) }')
    echo "note: saturated/$kind: $BURST frames sent in $took; peak RSS ${peak:-?} kB"
    if [ -n "$peak" ] && [ -n "$quiet" ] && [ "$peak" -le $((2 * quiet)) ]; then
        pass "saturated/$kind/memory"
    else
        fail "saturated/$kind/memory" "peak RSS ${peak:-?} kB under load, ${quiet:-?} kB on a quiet bus"
    fi
done

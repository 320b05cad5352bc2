# Which car is this, live, on a real SocketCAN bus (judged by candump):
# - `profiles identify --iface` names the simulated Fusion from its frames
#   and puts nothing on the wire;
# - `diagnose --profile auto --listen-only` chooses the Fusion from the bus
#   alone (no VIN is asked) and nothing of trunkdiag's reaches the wire;
# - `diagnose --profile auto` listens before it asks anything: its first
#   request on the wire comes at least the identification's 3 s after the
#   process started, and the VIN (which the simulator answers) then wins;
# - a random bus (cangen) matches no profile.
. /vm/checks/live.inc
G68=/tmp/identify
FUSION=ford-fusion-2013-2020
mkdir -p "$G68"

# diag_frames LOG: frames on a diagnostic id (0x700-0x7FF, 29-bit 18DAxxxx).
diag_frames() {
    awk '{ split($3, a, "#"); id = a[1];
           if (length(id) == 3 && id >= "700" && id <= "7FF") print $1, $3;
           else if (length(id) == 8 && substr(id, 1, 4) ~ /^18D[AB]$/) print $1, $3 }' "$1" 2>/dev/null
}

iface=vcanI d=$G68/run
rm -rf "$d"
if fresh_vcan "$iface" && start_candump "$iface" "$d"; then
    trunkdiag simulate --profile "$FUSION" --scenario no-fault-found --iface "$iface" \
        --tester-wait 600 2> "$d/sim.err" &
    sim=$!
    wait_listeners "$iface" 2
    sleep 0.5
    timeout 20 trunkdiag profiles identify --iface "$iface" --seconds 3 --json \
        > "$d/identify.json" 2> "$d/identify.err"
    echo $? > "$d/identify.rc"
    timeout 40 trunkdiag diagnose --iface "$iface" --profile auto --listen-only \
        --no-prompt --json --listen 2 > "$d/listen-only.json" 2> "$d/listen-only.err"
    echo $? > "$d/listen-only.rc"
    # Everything so far was listening: the wire must hold no diagnostic frame.
    sleep 0.2
    silent=$(diag_frames "$(ls "$d"/candump-*.log | head -n 1)" | head -n 3)
    echo "$silent" > "$d/silent"
    started=$(date +%s.%N)
    timeout 60 trunkdiag diagnose --iface "$iface" --profile auto \
        --no-prompt --json --listen 2 > "$d/auto.json" 2> "$d/auto.err"
    echo $? > "$d/auto.rc"
    echo "$started" > "$d/auto.started"
    kill -INT $sim 2>/dev/null
    stop_pid $sim
    stop_pid $dump_pid
fi
log=$(ls "$d"/candump-*.log 2>/dev/null | head -n 1)

rc=$(cat "$d/identify.rc" 2>/dev/null)
if [ "$rc" = 0 ] && tr -d ' \n' < "$d/identify.json" 2>/dev/null \
    | grep -q "\"decision\":{\"kind\":\"profile\",\"profile\":\"$FUSION\"}"; then
    pass "identify/names-the-fusion-live"
else
    fail "identify/names-the-fusion-live" "exit ${rc:-none}; $(head -c 300 "$d/identify.json" 2>/dev/null)" \
        "$(tail -n 2 "$d/identify.err" 2>/dev/null)"
fi

rc=$(cat "$d/listen-only.rc" 2>/dev/null)
if grep -q "\"id\": \"$FUSION\"" "$d/listen-only.json" && grep -q 'no VIN; the bus matches' "$d/listen-only.json" \
    && [ -z "$(cat "$d/silent" 2>/dev/null)" ]; then
    pass "identify/auto-listen-only-sends-nothing"
else
    fail "identify/auto-listen-only-sends-nothing" "exit ${rc:-none}; diagnostic frames: $(cat "$d/silent" 2>/dev/null);" \
        "$(grep -m1 '"reason"' "$d/listen-only.json" 2>/dev/null)" "$(tail -n 2 "$d/listen-only.err" 2>/dev/null)"
fi

# The first diagnostic frame of the auto run, against its start.
first=$(diag_frames "$log" | awk -v s="$(cat "$d/auto.started" 2>/dev/null)" \
    '{ t = substr($1, 2, length($1) - 2); if (t + 0 >= s + 0) { print t - s; exit } }')
echo "note: identify: first request ${first:-never} s after diagnose --profile auto started"
if grep -q "\"id\": \"$FUSION\"" "$d/auto.json" && grep -q "\"vin\": \"3FA6P0" "$d/auto.json" \
    && awk -v f="${first:-0}" 'BEGIN { exit !(f >= 3.0) }'; then
    pass "identify/auto-listens-before-asking"
else
    fail "identify/auto-listens-before-asking" "first request ${first:-never} s after start (want >= 3);" \
        "$(grep -m1 '"reason"' "$d/auto.json" 2>/dev/null)" "$(tail -n 2 "$d/auto.err" 2>/dev/null)"
fi

# A random bus (can-utils' cangen: random ids, 8 random bytes, 0.5 ms
# apart) matches no profile.
iface=vcanJ d=$G68/random
rm -rf "$d"; mkdir -p "$d"
if fresh_vcan "$iface"; then
    cangen "$iface" -g 0.5 -I r -L 8 -D r &
    gen=$!
    timeout 20 trunkdiag profiles identify --iface "$iface" --seconds 3 --json \
        > "$d/identify.json" 2> "$d/identify.err"
    echo $? > "$d/identify.rc"
    stop_pid $gen
fi
rc=$(cat "$d/identify.rc" 2>/dev/null)
frames=$(tr -d ' \n' < "$d/identify.json" 2>/dev/null | sed -n 's/.*"frames":\([0-9]*\).*/\1/p' | head -n 1)
if [ "$rc" = 1 ] && [ "${frames:-0}" -gt 1000 ] \
    && tr -d ' \n' < "$d/identify.json" | grep -q '"decision":{"kind":"none"}'; then
    pass "identify/random-bus-matches-nothing"
else
    fail "identify/random-bus-matches-nothing" "exit ${rc:-none}, ${frames:-0} frames; $(tr -d ' \n' < "$d/identify.json" 2>/dev/null | head -c 200)" \
        "$(tail -n 2 "$d/identify.err" 2>/dev/null)"
fi

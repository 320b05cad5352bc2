# No harm by default, judged by candump on the wire:
# - `diagnose --listen-only` against the simulated Nissan (low-battery, a
#   cause its broadcast frames carry) puts no frame on a diagnostic id
#   (0x700-0x7FF, 29-bit 18DAxxxx): candump's log of the wire holds only
#   the simulator's broadcasts, and the verdict is still the scenario's;
# - `request 1101`, `2701`, `14FFFFFF` without a flag exit 2 and nothing
#   reaches the wire; with `--allow reset --yes` / `--allow clear --yes`
#   exactly that request goes out (one frame on 0x745); 2701 never does;
# - `record --listen-only` and `learn --listen-only` on a bus where cangen
#   sends a known number of frames: the wire holds exactly those (nothing
#   of trunkdiag's), and the recording has every one.
. /vm/checks/live.inc
# Not under $LIVE: group 80 replays every diagnose there against candump,
# and expects each to have sent its requests.
G66=/tmp/listen-only
mkdir -p "$G66"

# diag_frames LOG: the frames of a candump log on a diagnostic request or
# answer id, one per line.
diag_frames() {
    awk '{ split($3, a, "#"); id = a[1];
           if (length(id) == 3 && id >= "700" && id <= "7FF") print $3;
           else if (length(id) == 8 && substr(id, 1, 4) ~ /^18D[AB]$/) print $3 }' "$1" 2>/dev/null
}

# --- diagnose --listen-only ----------------------------------------------------
s=low-battery iface=vcanL d=$G66/listen-only
rm -rf "$d"
if fresh_vcan "$iface" && start_candump "$iface" "$d"; then
    trunkdiag simulate --profile "$PROFILE" --scenario "$s" --iface "$iface" \
        --record "$d/sim.log" 2> "$d/sim.err" &
    sim=$!
    wait_listeners "$iface" 2
    timeout 40 trunkdiag diagnose --iface "$iface" --profile "$PROFILE" --listen-only \
        --no-prompt --json --listen $LISTEN --record "$d/diag.log" \
        > "$d/diag.json" 2> "$d/diag.err"
    echo $? > "$d/diag.rc"
    kill -INT $sim 2>/dev/null
    stop_pid $sim
    stop_pid $dump_pid
fi
log=$(ls "$d"/candump-*.log 2>/dev/null | head -n 1)
got=$(top_verdict "$d/diag.json" 2>/dev/null)
rc=$(cat "$d/diag.rc" 2>/dev/null)
if [ "${got%% *}" = "$s" ] && [ "$rc" = 1 ] && grep -q '"listen-only: nothing was sent' "$d/diag.json"; then
    pass "listen-only/verdict-from-broadcasts"
else
    fail "listen-only/verdict-from-broadcasts" "top verdict '$got' exit ${rc:-none}, expected $s exit 1;" \
        "$(tail -n 3 "$d/diag.err" 2>/dev/null)"
fi
frames=$(grep -c '^(' "$log" 2>/dev/null)
asked=$(diag_frames "$log" | head -n 3)
if [ "${frames:-0}" -gt 20 ] && [ -z "$asked" ]; then
    pass "listen-only/nothing-sent"
else
    fail "listen-only/nothing-sent" "${frames:-0} frames on the wire; diagnostic frames: $asked"
fi

# --- request: refused before the bus, sent exactly with the flag ------------------
iface=vcanR d=$G66/request
rm -rf "$d"
if fresh_vcan "$iface" && start_candump "$iface" "$d"; then
    trunkdiag simulate --profile "$PROFILE" --scenario no-fault-found --iface "$iface" \
        2> "$d/sim.err" &
    sim=$!
    wait_listeners "$iface" 2
    for req in 1101 2701 14FFFFFF; do
        timeout 20 trunkdiag request --iface "$iface" --profile "$PROFILE" "$req" \
            > /dev/null 2> "$d/bare-$req.err"
        echo $? > "$d/bare-$req.rc"
    done
    timeout 20 trunkdiag request --iface "$iface" --profile "$PROFILE" \
        --allow clear --allow write --allow actuate --allow reset --yes 2701 \
        > /dev/null 2> "$d/every-2701.err"
    echo $? > "$d/every-2701.rc"
    # Nothing so far may have reached the wire: the count before the two
    # allowed requests.
    sleep 0.2
    before=$(diag_frames "$(ls "$d"/candump-*.log | head -n 1)" | wc -l)
    echo "$before" > "$d/before"
    timeout 20 trunkdiag request --iface "$iface" --profile "$PROFILE" --allow reset --yes 1101 \
        > "$d/reset.out" 2> "$d/reset.err"
    timeout 20 trunkdiag request --iface "$iface" --profile "$PROFILE" --allow clear --yes 14FF00 \
        > "$d/clear.out" 2> "$d/clear.err"
    sleep 0.2
    kill -INT $sim 2>/dev/null
    stop_pid $sim
    stop_pid $dump_pid
fi
log=$(ls "$d"/candump-*.log 2>/dev/null | head -n 1)
ok=1
for req in 1101 2701 14FFFFFF every-2701; do
    f=$req; case $req in every-*) ;; *) f=bare-$req ;; esac
    [ "$(cat "$d/$f.rc" 2>/dev/null)" = 2 ] || ok=0
done
if [ $ok = 1 ] && [ "$(cat "$d/before" 2>/dev/null)" = 0 ]; then
    pass "request/refused-before-the-bus"
else
    fail "request/refused-before-the-bus" "exit codes $(cat "$d"/*.rc 2>/dev/null | tr '\n' ' ')," \
        "$(cat "$d/before" 2>/dev/null) diagnostic frames before the allowed requests;" \
        "$(head -n 1 "$d/bare-1101.err" 2>/dev/null)"
fi
# The Nissan BCM speaks KWP2000 on 0x745: the two allowed requests are the
# only requests on the wire, each one single frame.
sent=$(diag_frames "$log" | grep '^745#' | tr '\n' ' ')
case "$sent" in
    "745#021101"*" 745#0314FF00"*)
        if [ "$(diag_frames "$log" | grep -c '^745#')" = 2 ]; then
            pass "request/exactly-the-request"
        else
            fail "request/exactly-the-request" "more than the two requests on 0x745: $sent"
        fi ;;
    *) fail "request/exactly-the-request" "on 0x745: '$sent';" "$(tail -n 2 "$d/reset.err" 2>/dev/null)" ;;
esac

# --- record and learn --listen-only: the wire holds only what cangen sent -------
# No simulator here: cangen sends a known number of frames, so any frame
# more on candump's log would be one of trunkdiag's.
iface=vcanW d=$G66/passive n=300
rm -rf "$d"
mkdir -p "$d"
if fresh_vcan "$iface" && start_candump "$iface" "$d"; then
    trunkdiag record --iface "$iface" --listen-only -o "$d/rec.log" 2> "$d/rec.err" &
    rec=$!
    # Learning guides a person through timed actions; nobody acts here, so
    # it is interrupted (as Ctrl-C would) and learns from what it heard.
    timeout -s INT 15 trunkdiag learn --iface "$iface" --listen-only --baseline 1 --gap 4 \
        --rounds 1 > "$d/learn.out" 2> "$d/learn.err" &
    learn=$!
    wait_listeners "$iface" 3
    cangen "$iface" -g 10 -n $n -L 8
    wait $learn
    echo $? > "$d/learn.rc"
    kill -INT $rec 2>/dev/null
    stop_pid $rec
    sleep 0.2
    stop_pid $dump_pid
fi
log=$(ls "$d"/candump-*.log 2>/dev/null | head -n 1)
wire=$(grep -c '^(' "$log" 2>/dev/null)
heard=$(grep -c '^(' "$d/rec.log" 2>/dev/null)
if [ "${wire:-0}" = $n ] && [ "${heard:-0}" = $n ]; then
    pass "listen-only/record-sends-nothing"
else
    fail "listen-only/record-sends-nothing" "cangen sent $n; on the wire ${wire:-0}, recorded ${heard:-0};" \
        "$(tail -n 2 "$d/rec.err" 2>/dev/null)"
fi
if [ "${wire:-0}" = $n ] && grep -q '^baseline:' "$d/learn.err" \
    && grep -q 'interrupted' "$d/learn.err"; then
    pass "listen-only/learn-sends-nothing"
else
    fail "listen-only/learn-sends-nothing" "cangen sent $n; on the wire ${wire:-0}; learn exit" \
        "$(cat "$d/learn.rc" 2>/dev/null): $(tail -n 2 "$d/learn.err" 2>/dev/null)"
fi

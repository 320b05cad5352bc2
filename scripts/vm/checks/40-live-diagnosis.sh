# Live diagnosis over vcan (issue 6, group 1): for every scenario of
# `trunkdiag simulate --list`, the simulator and `trunkdiag diagnose --iface
# --no-prompt --json` run as two processes on their own vcan interface, a few
# scenarios at once (each run is ~8 s of mostly waiting). The top verdict
# must be the scenario's cause (diagnose's exit code to match: 0 only for
# no-fault-found). The recordings stay in /tmp/live for groups 2 and 5.
. /vm/checks/live.inc

scenarios=$(trunkdiag simulate --list | cut -d' ' -f1)
[ -n "$scenarios" ] || fail live/list "simulate --list printed no scenario"
# In waves of $WAVE: the guest is one emulated CPU, and a run starved of
# it misses the BCM's 150 ms answer window, which is a different scenario.
i=0
pids=
for s in $scenarios; do
    live_run "$s" "vcan$((i % WAVE))" "$LIVE/$s" > "$LIVE-$s.out" 2>&1 &
    pids="$pids $!"
    i=$((i + 1))
    if [ $((i % WAVE)) -eq 0 ]; then
        for p in $pids; do wait "$p"; done
        pids=
    fi
done
for p in $pids; do wait "$p"; done

for s in $scenarios; do
    d=$LIVE/$s
    rc=$(cat "$d/diag.rc" 2>/dev/null)
    if [ "$s" = no-bus-activity ]; then
        # A script's live scan of a silent interface fails (exit 2) with a
        # message naming what to check, rather than waiting or guessing.
        if [ "$rc" = 2 ] && grep -q "no frame on vcan" "$d/diag.err" 2>/dev/null; then
            pass "live/$s"
        else
            fail "live/$s" "expected exit 2 and 'no frame on vcan...', got exit ${rc:-none}:" \
                "$(tail -n 2 "$d/diag.err" 2>/dev/null)"
        fi
        continue
    fi
    got=$(top_verdict "$d/diag.json" 2>/dev/null)
    want_rc=1
    [ "$s" = no-fault-found ] && want_rc=0
    if [ "${got%% *}" = "$s" ] && [ "$rc" = "$want_rc" ]; then
        pass "live/$s"
    else
        # What the run rested on, for whoever reads the failure: the evidence
        # and the run's notes, replayed from its own recording.
        fail "live/$s" "top verdict '$got' exit ${rc:-none}, expected $s exit $want_rc;" \
            "$(cat "$LIVE-$s.out" 2>/dev/null) $(tail -n 2 "$d/diag.err" 2>/dev/null)" \
            "$(sed -n '/"notes"/,/]/p' "$d/diag.json" 2>/dev/null | tr -s ' \n' ' ')" \
            "$(trunkdiag diagnose --replay "$d/diag.log" --profile "$PROFILE" --no-prompt $(observations "$s") 2>&1 \
                | sed -n '/^Evidence/,/^Next/p' | head -n 8 | tr -s ' \n' ' ')"
    fi
done

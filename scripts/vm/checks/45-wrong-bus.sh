# The adapter on the wrong bus (issue 13): the Ford simulator sends only
# what its medium-speed body bus (ms-can) carries, as a car would to an
# adapter wired to pins 3/11, while `diagnose --iface` runs with the Ford
# profile, whose default bus is hs-can. The user must be told about the bus
# (that the expected ids never came, and where to connect instead), not
# "no bus activity". Without --json, where to connect is also printed
# before the run (unit-tested in src/cli/diagnose.rs).
. /vm/checks/live.inc

d=/tmp/wrong-bus
rm -rf "$d"; mkdir -p "$d"
ford=ford-fusion-2013-2020
if fresh_vcan vcanW; then
    trunkdiag simulate --profile $ford --scenario no-fault-found --bus ms-can --iface vcanW \
        2> "$d/sim.err" &
    sim=$!
    wait_listeners vcanW 1
    timeout 40 trunkdiag diagnose --iface vcanW --profile $ford --no-prompt --json \
        --listen $LISTEN > "$d/diag.json" 2> "$d/diag.err"
    echo $? > "$d/diag.rc"
    kill -INT $sim 2>/dev/null
    stop_pid $sim
    got=$(top_verdict "$d/diag.json")
    rc=$(cat "$d/diag.rc")
    if [ "${got%% *}" = wrong-bus ] && [ "$rc" = 1 ] \
        && grep -q "pins 6/14 at 500 kbit/s" "$d/diag.json"; then
        pass wrong-bus/ms-can-only
    else
        fail wrong-bus/ms-can-only "top verdict '$got' exit ${rc:-none}, expected wrong-bus exit 1" \
            "naming pins 6/14 at 500 kbit/s;" \
            "$(tail -n 3 "$d/diag.err")" "$(grep -m 3 '"evidence"' -A 2 "$d/diag.json" | tr -s ' \n' ' ')"
    fi
else
    fail wrong-bus/ms-can-only "cannot create vcanW"
fi

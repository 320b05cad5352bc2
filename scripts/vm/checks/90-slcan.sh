# SLCAN (issue 14): one and the same simulated car on vcan, reached through
# an SLCAN adapter and through SocketCAN.
#  - can-utils' slcanpty plays the SLCAN adapter: it speaks the Lawicel
#    protocol on one end of a socat pty pair and passes the frames to and
#    from the car's vcan interface;
#  - `diagnose --iface slcan:PTY` drives that adapter directly;
#  - slcand then attaches the same adapter to the kernel's slcan driver as
#    the SocketCAN interface slcan0, and `diagnose --iface slcan0` runs
#    through it.
# Both runs must give the scenario's verdict, the same frames (each distinct
# id and data) and recordings that replay to it.
. /vm/checks/live.inc

SL=/tmp/slcan
mkdir -p "$SL"
# The adapter's host end: under /dev, because slcand opens /dev/NAME for
# the tty name it is given.
HOST=/dev/ttySLtd
# Pseudo-terminals (socat's pty pairs) need devpts.
if ! grep -q ' /dev/pts devpts' /proc/mounts; then
    mkdir -p /dev/pts
    mount -t devpts -o ptmxmode=0666 devpts /dev/pts
fi
scenario=valet-lockout

# slcan_run NAME IFACE-SPEC SETUP: a fresh car on vcanS, slcanpty on a
# fresh pty pair, then SETUP (a command, may be empty) and the diagnosis
# through IFACE-SPEC; $teardown (may be empty) runs after it. Leaves
# $SL/NAME.json, .log, .rc, .err.
slcan_run() {
    local name=$1 spec=$2 setup=$3 sim socat pty i
    fresh_vcan vcanS || { echo "cannot create vcanS" > "$SL/$name.err"; return 1; }
    echo "slcan: $name: car, adapter, diagnosis"
    trunkdiag simulate --profile "$PROFILE" --scenario $scenario --iface vcanS \
        > /dev/null 2> "$SL/$name.sim.err" &
    sim=$!
    rm -f "$SL/dev" "$HOST"
    socat pty,raw,echo=0,link="$SL/dev" pty,raw,echo=0,link="$HOST" > /dev/null 2>&1 &
    socat=$!
    i=0
    while [ ! -e "$SL/dev" ] || [ ! -e "$HOST" ]; do
        i=$((i + 1)); [ $i -lt 500 ] || { echo "socat made no ptys" > "$SL/$name.err"; break; }
        sleep 0.01
    done
    # slcanpty stops when its stdin is readable: give it a pipe that never
    # is. Nothing in the background may hold the group's output open.
    (sleep 600 | slcanpty "$SL/dev" vcanS) > /dev/null 2>&1 &
    pty=$!
    wait_listeners vcanS 1
    [ -n "$setup" ] && { eval "$setup"; } > "$SL/$name.setup" 2>&1
    timeout -s KILL 40 trunkdiag diagnose --iface "$spec" --profile "$PROFILE" --no-prompt --json \
        --listen $LISTEN --record "$SL/$name.log" > "$SL/$name.json" 2> "$SL/$name.err"
    echo $? > "$SL/$name.rc"
    kill -INT $sim 2>/dev/null
    stop_pid $sim
    [ -n "$teardown" ] && eval "$teardown" > /dev/null 2>&1
    echo "slcan: $name: done, exit $(cat "$SL/$name.rc")"
    pkill -f "sleep 600" 2>/dev/null
    pkill slcanpty 2>/dev/null
    stop_pid $pty
    stop_pid $socat
}

# The frames of a recording: each distinct id#data once, sorted. Order and
# counts depend on timing (how many polls fit in the listening time, where
# the body frames fall between them); which frames the car and the tester
# exchanged does not.
frames_of() {
    grep '^(' "$1" | cut -d' ' -f3 | sort -u
}

teardown=
slcan_run direct "slcan:$HOST" ""
teardown="pkill slcand; ip link del slcan0 2>/dev/null"
slcan_run socketcan slcan0 \
    "slcand -o -c -s6 ${HOST#/dev/} slcan0 && sleep 0.5 && ip link set slcan0 up"

for name in direct socketcan; do
    got=$(top_verdict "$SL/$name.json")
    rc=$(cat "$SL/$name.rc" 2>/dev/null)
    if [ "${got%% *}" = "$scenario" ] && [ "$rc" = 1 ]; then
        pass "slcan/$name"
    else
        fail "slcan/$name" "top verdict '$got' exit ${rc:-none}, expected $scenario exit 1;" \
            "$(tail -n 2 "$SL/$name.err" 2>/dev/null)" \
            "setup: $(head -c 400 "$SL/$name.setup" 2>/dev/null)" \
            "$(sed -n '/"notes"/,/]/p' "$SL/$name.json" 2>/dev/null | tr -s ' \n' ' ')"
    fi
    timeout 30 trunkdiag diagnose --replay "$SL/$name.log" --profile "$PROFILE" --json \
        > "$SL/$name.replay.json" 2>&1
    if [ "$(top_verdict "$SL/$name.replay.json")" = "$got" ]; then
        pass "slcan/$name-replay"
    else
        fail "slcan/$name-replay" "replay gave '$(top_verdict "$SL/$name.replay.json")', live '$got'"
    fi
done

frames_of "$SL/direct.log" > "$SL/direct.frames"
frames_of "$SL/socketcan.log" > "$SL/socketcan.frames"
if [ -s "$SL/direct.frames" ] && cmp -s "$SL/direct.frames" "$SL/socketcan.frames"; then
    pass "slcan/same-frames"
else
    fail "slcan/same-frames" "slcan: and slcan0 recorded different frames:" \
        "$(diff "$SL/direct.frames" "$SL/socketcan.frames" | grep "^[<>]" | head -n 6)"
fi

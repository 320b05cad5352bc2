# NOT RUN BY THE SUITE YET (scripts/vm/wip/, not checks/): on its last run
# in the VM, slcan:PTY through slcanpty reached the simulated car and its
# recording replayed to the live verdict, but the verdict was trunk-fuse
# (low) instead of valet-lockout, and `slcand ... slcan0` left no slcan0
# interface (its output is discarded below: look there first). Move it to
# checks/ once both pass.
#
# SLCAN (issue 14): one and the same simulated car on vcan, reached through
# an SLCAN adapter and through SocketCAN.
#  - can-utils' slcanpty plays the SLCAN adapter: it speaks the Lawicel
#    protocol on one end of a socat pty pair and passes the frames to and
#    from the car's vcan interface;
#  - `diagnose --iface slcan:PTY` drives that adapter directly;
#  - slcand then attaches the same adapter to the kernel's slcan driver as
#    the SocketCAN interface slcan0, and `diagnose --iface slcan0` runs
#    through it.
# Both runs must give the scenario's verdict, the same frames (id and data,
# in order of first appearance) and recordings that replay to it.
. /vm/checks/live.inc

SL=/tmp/slcan
mkdir -p "$SL"
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
    rm -f "$SL/dev" "$SL/host"
    socat pty,raw,echo=0,link="$SL/dev" pty,raw,echo=0,link="$SL/host" > /dev/null 2>&1 &
    socat=$!
    i=0
    while [ ! -e "$SL/dev" ] || [ ! -e "$SL/host" ]; do
        i=$((i + 1)); [ $i -lt 500 ] || { echo "socat made no ptys" > "$SL/$name.err"; break; }
        sleep 0.01
    done
    # slcanpty stops when its stdin is readable: give it a pipe that never
    # is. Nothing in the background may hold the group's output open.
    (sleep 600 | slcanpty "$SL/dev" vcanS) > /dev/null 2>&1 &
    pty=$!
    wait_listeners vcanS 1
    [ -n "$setup" ] && eval "$setup" > /dev/null 2>&1
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

# The frames of a recording: id#data in order of first appearance.
frames_of() {
    grep '^(' "$1" | cut -d' ' -f3 | awk '!seen[$0]++'
}

teardown=
slcan_run direct "slcan:$SL/host" ""
teardown="pkill slcand; ip link del slcan0 2>/dev/null"
slcan_run socketcan slcan0 \
    "slcand -o -c -s6 $SL/host slcan0 && sleep 0.5 && ip link set slcan0 up"

for name in direct socketcan; do
    got=$(top_verdict "$SL/$name.json")
    rc=$(cat "$SL/$name.rc" 2>/dev/null)
    if [ "${got%% *}" = "$scenario" ] && [ "$rc" = 1 ]; then
        pass "slcan/$name"
    else
        fail "slcan/$name" "top verdict '$got' exit ${rc:-none}, expected $scenario exit 1;" \
            "$(tail -n 2 "$SL/$name.err" 2>/dev/null)"
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
        "$(diff "$SL/direct.frames" "$SL/socketcan.frames" | head -n 4)"
fi

# The preflight, `trunkdiag check --iface vcanX --json`, on real SocketCAN:
#  - with the simulated Altima on the bus: the adapter is SocketCAN, read
#    from sysfs (the interface up; bitrate and CAN state named as not
#    reported by vcan), the receive-queue drop counter on and 0, the body
#    module answers the one read-only question, its body frames are here,
#    exit 0;
#  - a burst (cangen, no gap) while trunkdiag is stopped (SIGSTOP) overflows
#    its receive queue: the report counts the frames the kernel dropped
#    (SO_RXQ_OVFL), which with those it heard are every frame sent, and
#    says silence is not proof;
#  - no simulator: nothing heard, the body module silent: exit 2, with the
#    advice that it may be asleep;
#  - the interface down: exit 2, naming the command that brings it up.
. /vm/checks/live.inc

d=/tmp/check
rm -rf "$d"; mkdir -p "$d"

# has FILE TEXT...: every TEXT is in FILE.
has() {
    local f=$1
    shift
    for t in "$@"; do
        grep -qF -- "$t" "$f" || { echo "missing: $t"; return 1; }
    done
}

if fresh_vcan vcanC; then
    trunkdiag simulate --profile $PROFILE --scenario no-fault-found --iface vcanC \
        2> "$d/sim.err" &
    sim=$!
    wait_listeners vcanC 1
    timeout 60 trunkdiag check --iface vcanC --profile $PROFILE --json --listen 3 \
        > "$d/answers.json" 2> "$d/answers.err"
    echo $? > "$d/answers.rc"
    kill -INT $sim 2>/dev/null
    stop_pid $sim
    why=$(has "$d/answers.json" '"kind": "SocketCAN"' '"name": "interface up"' \
        'not reported by vcan' '"name": "receive-queue drop counter"' \
        '"answered": "yes"' '"request": "3E 01"' '"port": "body-frames"' \
        '"can_go_on": true' 'SO_RXQ_OVFL')
    if [ "$(cat "$d/answers.rc")" = 0 ] && [ -z "$why" ] \
        && grep -A 3 '"dropped": {' "$d/answers.json" | grep -q '"count": 0,'; then
        pass check/simulated-car
    else
        fail check/simulated-car "exit $(cat "$d/answers.rc") $why; $(tail -n 2 "$d/answers.err")" \
            "$(tr -s ' \n' ' ' < "$d/answers.json" | cut -c1-600)"
    fi
else
    fail check/simulated-car "cannot create vcanC"
fi

BURST=60000
if fresh_vcan vcanD; then
    timeout 180 trunkdiag check --iface vcanD --json --listen 60 --listen-only \
        > "$d/burst.json" 2> "$d/burst.err" &
    chk=$!
    wait_listeners vcanD 1
    kill -STOP $chk
    # Far more frames than its 8 MiB receive queue holds (the kernel counts
    # each small frame's whole buffer against it; group 86 overflows it
    # with 60000 too).
    cangen vcanD -g 0 -p 10 -I 2A0 -L 8 -D i -n $BURST 2> "$d/cangen.err"
    kill -CONT $chk
    # Once the queue has drained, one more frame carries the drop count.
    sleep 3
    cansend vcanD 7FF#D0
    wait $chk
    echo $? > "$d/burst.rc"
    dropped=$(grep -A 3 '"dropped": {' "$d/burst.json" | sed -n 's/.*"count": \([0-9]*\),.*/\1/p' | head -n 1)
    heard=$(grep -m 1 '"frames": ' "$d/burst.json" | sed 's/[^0-9]//g')
    echo "note: check/burst: of $((BURST + 1)) frames sent while trunkdiag was stopped, it heard ${heard:-?} and the kernel dropped ${dropped:-?}"
    # What it heard and what the kernel says it dropped are all that was sent.
    if [ "${dropped:-0}" -gt 0 ] && [ $((${heard:-0} + dropped)) -eq $((BURST + 1)) ] \
        && has "$d/burst.json" '"exact": true' 'silence is not proof' > /dev/null; then
        pass check/receive-queue-overflow
    else
        fail check/receive-queue-overflow "dropped '${dropped}' exit $(cat "$d/burst.rc"); $(tail -n 2 "$d/burst.err")" \
            "$(tr -s ' \n' ' ' < "$d/burst.json" | cut -c1-600)"
    fi
else
    fail check/receive-queue-overflow "cannot create vcanD"
fi

if fresh_vcan vcanE; then
    timeout 60 trunkdiag check --iface vcanE --profile $PROFILE --json --listen 1 \
        > "$d/silent.json" 2> "$d/silent.err"
    echo $? > "$d/silent.rc"
    why=$(has "$d/silent.json" '"answered": "no"' '"can_go_on": false' \
        'it may be asleep: open a door or switch to accessory, then run again' \
        'nothing was heard on the bus')
    if [ "$(cat "$d/silent.rc")" = 2 ] && [ -z "$why" ]; then
        pass check/silent-body-module
    else
        fail check/silent-body-module "exit $(cat "$d/silent.rc") $why" \
            "$(tr -s ' \n' ' ' < "$d/silent.json" | cut -c1-600)"
    fi
    ip link set vcanE down
    timeout 60 trunkdiag check --iface vcanE --listen 1 > "$d/down.txt" 2> "$d/down.err"
    rc=$?
    if [ $rc = 2 ] && has "$d/down.txt" 'STOP' 'sudo ip link set vcanE up' > /dev/null; then
        pass check/interface-down
    else
        fail check/interface-down "exit $rc; $(tr -s ' \n' ' ' < "$d/down.txt")"
    fi
else
    fail check/silent-body-module "cannot create vcanE"
fi

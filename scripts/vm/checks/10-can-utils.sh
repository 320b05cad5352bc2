# can-utils smoke group: proves the reference peers and the kernel's CAN
# stack work in the guest before anything of ours is judged against them.

# cansend -> candump -L keeps every frame kind as written.
utils_roundtrip() {
    fresh_vcan vsmoke 72 || return 1
    candump -L vsmoke > /tmp/smoke.log &
    local dump=$! f
    sleep 1
    for f in 123#DEADBEEF 1ABCDEF0#0102 5E9#R8 456##50102030405060708090A0B0C; do
        cansend vsmoke "$f" || { kill $dump; return 1; }
    done
    sleep 1
    kill $dump
    # candump -L: "(seconds.micros) iface frame"; keep only "iface frame".
    local got want
    got=$(cut -d' ' -f2- /tmp/smoke.log | tr '\n' ' ')
    want="vsmoke 123#DEADBEEF vsmoke 1ABCDEF0#0102 vsmoke 5E9#R8 vsmoke 456##50102030405060708090A0B0C "
    [ "$got" = "$want" ] || { echo "candump recorded '$got', expected '$want'"; return 1; }
}
check can-utils/cansend-candump-roundtrip utils_roundtrip

# A 4095-byte message (the classic ISO-TP maximum) through the kernel's
# ISO-TP: first frame, flow control, 585 consecutive frames, reassembled.
isotp_4095() {
    fresh_vcan visotp || return 1
    head -c 4095 /dev/urandom | od -An -v -tx1 | tr -s ' \n' '  ' | sed 's/^ //; s/ $//' \
        | tr 'a-f' 'A-F' > /tmp/isotp.in
    # -n: candump exits (and flushes its buffered output) by itself once it
    # has the 587 frames expected; killing it could lose the last buffer.
    # -r: the kernel sends the 585 consecutive frames back to back (STmin 0)
    # and the emulated CPU schedules candump rarely: the default socket
    # buffer (about 200 kB, 450-480 frames of truesize) overflowed.
    candump -L -n 587 -r 4194304 visotp > /tmp/isotp.dump &
    local dump=$!
    isotprecv -s 7e8 -d 7e0 visotp > /tmp/isotp.out &
    local recv=$!
    sleep 1
    isotpsend -s 7e0 -d 7e8 visotp < /tmp/isotp.in || { kill $dump $recv; return 1; }
    local i=0
    while kill -0 $recv 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill $recv 2>/dev/null && { kill $dump; echo "isotprecv did not finish"; return 1; }
    i=0
    while kill -0 $dump 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill $dump 2>/dev/null
    local got want frames
    got=$(tr -s ' \n' '  ' < /tmp/isotp.out | sed 's/^ //; s/ $//' | tr 'a-f' 'A-F')
    want=$(cat /tmp/isotp.in)
    [ "${#want}" -eq $((4095 * 3 - 1)) ] || { echo "payload generation made ${#want} chars"; return 1; }
    [ "$got" = "$want" ] || { echo "isotprecv got ${#got} chars, differing from the ${#want} sent"; return 1; }
    frames=$(wc -l < /tmp/isotp.dump)
    [ "$frames" -eq 587 ] || { echo "expected 587 frames on the bus (FF, FC, 585 CF), candump saw $frames"; return 1; }
    grep -q 'visotp 7E0#1FFF' /tmp/isotp.dump || { echo "no first frame announcing 0xFFF bytes"; return 1; }
}
check can-utils/isotp-4095-bytes isotp_4095

# Issue 2's acceptance, with the real candump as the writer: a log that
# `candump -l` wrote (classic, 29-bit, remote R and R8, CAN FD with BRS and
# ESI flags, empty frames) goes through `trunkdiag capture cat` byte for
# byte, and `capture stats --json` counts every frame.
candump_log_cat() {
    fresh_vcan vcat 72 || return 1
    rm -rf /tmp/catdir && mkdir -p /tmp/catdir
    (cd /tmp/catdir && exec candump -l vcat) &
    local dump=$! f
    sleep 1
    for f in 123#DEADBEEF 7FF# 1ABCDEF0#0102 00000001#11223344556677 5E9#R 5E9#R8 \
        456##50102030405060708090A0B0C 456##3 1F334455##1112233445566778899AABBCCDDEEFF00; do
        cansend vcat "$f" || { kill $dump; return 1; }
    done
    sleep 1
    kill -INT $dump; wait $dump 2>/dev/null
    local log
    log=$(ls /tmp/catdir/candump-*.log 2>/dev/null | head -n 1)
    [ -s "$log" ] || { echo "candump -l wrote no log"; return 1; }
    [ "$(wc -l < "$log")" -eq 9 ] || { echo "candump -l wrote $(wc -l < "$log") lines, expected 9"; cat "$log"; return 1; }
    trunkdiag capture cat "$log" > /tmp/catdir/cat.log || { echo "capture cat failed"; return 1; }
    cmp -s "$log" /tmp/catdir/cat.log || { echo "capture cat differs:"; diff "$log" /tmp/catdir/cat.log | head; return 1; }
    local frames
    frames=$(trunkdiag capture stats --json "$log" | tr -d ' \n' | grep -o '"frames":[0-9]*' | head -n 1)
    [ "$frames" = '"frames":9' ] || { echo "capture stats says $frames, expected 9"; return 1; }
}
check can-utils/candump-log-through-capture-cat candump_log_cat

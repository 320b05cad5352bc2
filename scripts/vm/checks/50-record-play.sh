# can-utils as recorder and player (issue 6, group 2).
#  - candump -l recorded each live run of group 1: `diagnose --replay` of
#    that recording must give the live verdict (id and confidence); so must
#    the replay of trunkdiag's own --record.
#  - canplayer plays each bundled capture (tests/data/diagnose) onto a vcan
#    interface while `diagnose --iface --no-prompt` listens: the same top
#    verdict as the offline replay of that capture.
. /vm/checks/live.inc

for d in "$LIVE"/*/; do
    s=$(basename "$d")
    live=$(top_verdict "$d/diag.json")
    [ -n "$live" ] || continue   # group 1 reported that run already
    obs=$(observations "$s")
    for rec in "$d"candump-*.log "$d/diag.log"; do
        what=candump
        case "$rec" in *diag.log) what=trunkdiag-record ;; esac
        # shellcheck disable=SC2086
        timeout 30 trunkdiag diagnose --replay "$rec" --profile "$PROFILE" --json $obs \
            > "$d/replay-$what.json" 2> "$d/replay-$what.err"
        got=$(top_verdict "$d/replay-$what.json")
        if [ "$got" = "$live" ]; then
            pass "replay-$what/$s"
        else
            fail "replay-$what/$s" "replay of $(basename "$rec") gave '$got', live gave '$live'; $(tail -n 1 "$d/replay-$what.err")"
        fi
    done
done

# canplayer: a wave of bundled captures, both profiles, played in real time.
play_one() {
    local f=$1 iface=$2 out=$3 args
    args=$(sed -n 's/^# args: //p' "$f" | head -n 1)
    fresh_vcan "$iface" || return 1
    # shellcheck disable=SC2086
    timeout 40 trunkdiag diagnose --iface "$iface" --no-prompt --json --listen 11 $args \
        > "$out.json" 2> "$out.err" &
    local diag=$!
    wait_listeners "$iface" 1 || return 1
    # The captures were taken on can0; -I plays the file, vcanN=can0 maps it.
    timeout 30 canplayer -I "$f" "$iface=can0" 2> "$out.play.err"
    wait $diag
    echo $? > "$out.rc"
}
played=
i=0
for name in nissan-trunk-fuse nissan-valet-lockout ford-no-fault-found ford-bcm-fault; do
    f=/repo/tests/data/diagnose/$name.log
    [ -f "$f" ] || { fail "canplayer/$name" "no bundled capture $f"; continue; }
    play_one "$f" "vplay$i" "/tmp/play-$name" > "/tmp/play-$name.out" 2>&1 &
    played="$played $!"
    i=$((i + 1))
done
for p in $played; do wait "$p"; done
for name in nissan-trunk-fuse nissan-valet-lockout ford-no-fault-found ford-bcm-fault; do
    f=/repo/tests/data/diagnose/$name.log
    [ -f "$f" ] || continue
    args=$(sed -n 's/^# args: //p' "$f" | head -n 1)
    # shellcheck disable=SC2086
    trunkdiag diagnose --replay "$f" --json $args > "/tmp/play-$name.offline.json" 2>/dev/null
    offline=$(top_verdict "/tmp/play-$name.offline.json")
    got=$(top_verdict "/tmp/play-$name.json")
    if [ -n "$offline" ] && [ "${got%% *}" = "${offline%% *}" ]; then
        pass "canplayer/$name"
    else
        fail "canplayer/$name" "live while canplayer played: '$got' (exit $(cat "/tmp/play-$name.rc" 2>/dev/null)), offline replay: '$offline'; $(tail -n 1 "/tmp/play-$name.err") $(cat "/tmp/play-$name.out")"
    fi
done

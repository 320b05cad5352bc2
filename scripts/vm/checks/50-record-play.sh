# can-utils as recorder and player (issue 6, group 2).
#  - candump -l recorded each live run of group 1: `diagnose --replay` of
#    that recording must give the live verdict (id and confidence); so must
#    the replay of trunkdiag's own --record.
#  - canplayer plays each bundled capture (tests/data/diagnose) onto a vcan
#    interface while `diagnose --iface --no-prompt` listens: the same top
#    verdict as the offline replay of that capture.
. /vm/checks/live.inc

runs=0
for d in "$LIVE"/*/; do
    s=$(basename "$d")
    live=$(top_verdict "$d/diag.json")
    [ -n "$live" ] || continue   # group 1 reported that run already
    runs=$((runs + 1))
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
# No live run replayed is a group that proved nothing, not a pass.
[ "$runs" -gt 0 ] || fail replay "no live run of group 40 in $LIVE to replay"

# The profile (and observations) a bundled capture is diagnosed with: the
# fixtures of tests/data/diagnose say it in a `# args:` line; the library in
# captures/<profile>/ by its directory (its scenarios below need none).
capture_args() {
    case "$1" in
        /repo/captures/*) echo "--profile $(basename "$(dirname "$1")")" ;;
        *) sed -n 's/^# args: //p' "$1" | head -n 1 ;;
    esac
}
# The interface named in a capture's first frame line.
capture_iface() {
    grep -m 1 '^(' "$1" | cut -d' ' -f2
}

# canplayer: a wave of bundled captures, both profiles, played in real time:
# fixtures taken on can0, and library recordings (vcan0, with their `# `
# header lines, which canplayer must skip).
play_one() {
    local f=$1 iface=$2 out=$3 args
    args=$(capture_args "$f")
    fresh_vcan "$iface" || return 1
    # shellcheck disable=SC2086
    # The captures are 10 s long. The run must end before the recording does:
    # once its session is open (a played answer can open it), its own reads
    # after the last played frame go unanswered, which is a BCM falling
    # silent, not the capture's verdict. Setup (session, trouble codes, their
    # retries) takes under 1 s, so 8 s of listening ends by about 9 s.
    timeout 40 trunkdiag diagnose --iface "$iface" --no-prompt --json --listen 8 $args \
        > "$out.json" 2> "$out.err" &
    local diag=$!
    wait_listeners "$iface" 1 || return 1
    # -I plays the file; vcanN=<iface in the file> maps it onto ours.
    timeout 30 canplayer -I "$f" "$iface=$(capture_iface "$f")" 2> "$out.play.err"
    wait $diag
    echo $? > "$out.rc"
}
plays="/repo/tests/data/diagnose/nissan-trunk-fuse.log
/repo/tests/data/diagnose/nissan-valet-lockout.log
/repo/tests/data/diagnose/ford-no-fault-found.log
/repo/tests/data/diagnose/ford-bcm-fault.log
/repo/captures/nissan-altima-2013-2018/valet-lockout.log
/repo/captures/ford-fusion-2013-2020/no-fault-found.log"
# A short, unique name per played file.
play_name() {
    case "$1" in
        /repo/captures/*) echo "library-$(basename "$(dirname "$1")")-$(basename "$1" .log)" ;;
        *) basename "$1" .log ;;
    esac
}
played=
i=0
for f in $plays; do
    name=$(play_name "$f")
    [ -f "$f" ] || { fail "canplayer/$name" "no bundled capture $f"; continue; }
    play_one "$f" "vplay$((i % WAVE))" "/tmp/play-$name" > "/tmp/play-$name.out" 2>&1 &
    played="$played $!"
    i=$((i + 1))
    if [ $((i % WAVE)) -eq 0 ]; then
        for p in $played; do wait "$p"; done
        played=
    fi
done
for p in $played; do wait "$p"; done
for f in $plays; do
    name=$(play_name "$f")
    [ -f "$f" ] || continue
    args=$(capture_args "$f")
    # shellcheck disable=SC2086
    trunkdiag diagnose --replay "$f" --json $args > "/tmp/play-$name.offline.json" 2>/dev/null
    offline=$(top_verdict "/tmp/play-$name.offline.json")
    got=$(top_verdict "/tmp/play-$name.json")
    if [ -n "$offline" ] && [ "${got%% *}" = "${offline%% *}" ]; then
        pass "canplayer/$name"
    else
        fail "canplayer/$name" "live while canplayer played: '$got' (exit $(cat "/tmp/play-$name.rc" 2>/dev/null)), offline replay: '$offline'; $(tail -n 1 "/tmp/play-$name.err") $(cat "/tmp/play-$name.out")" \
            "live evidence: $(grep -A 4 '"evidence"' "/tmp/play-$name.json" | tr -s ' \n' ' ' | head -c 1500)" \
            "notes: $(sed -n '/"notes"/,/]/p' "/tmp/play-$name.json" | tr -s ' \n' ' ' | head -c 800)"
    fi
done

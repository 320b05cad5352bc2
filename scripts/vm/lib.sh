# Helpers for check groups (sourced by suite.sh, busybox sh).
#
#   pass NAME            record a passing check
#   fail NAME WHY        record a failing check
#   check NAME CMD...    run CMD; pass if it exits 0, else fail with the
#                        last line of its output as the reason
#   fresh_vcan NAME [MTU] create (or recreate) an up vcan interface
#   run_libtest GROUP BIN [ARGS...]  one check per Rust test in BIN
#
# Results are appended to $VCAN_RESULTS so that counts survive subshells; the
# console line is what the host parses ("PASS name" / "FAIL name: why").

VCAN_RESULTS=${VCAN_RESULTS:-/tmp/vcan-results}

pass() {
    echo "PASS $1"
    echo "PASS" >> "$VCAN_RESULTS"
}

fail() {
    local name=$1
    shift
    # One line only: the host parses line by line.
    echo "FAIL $name: $(echo "$*" | tr '\n' ' ')"
    echo "FAIL" >> "$VCAN_RESULTS"
}

check() {
    local name=$1 out rc=0
    shift
    out=$("$@" 2>&1) || rc=$?
    if [ "$rc" -eq 0 ]; then
        pass "$name"
    else
        fail "$name" "$(echo "$out" | tail -n 1) (exit $rc)"
    fi
}

fresh_vcan() {
    ip link del dev "$1" 2>/dev/null
    ip link add dev "$1" type vcan || return 1
    if [ -n "$2" ]; then ip link set "$1" mtu "$2" || return 1; fi
    ip link set up "$1"
}

# run_libtest GROUP BINARY [ARGS...]: runs a Rust test binary and reports
# "test NAME ... ok|FAILED" lines as PASS/FAIL GROUP/NAME, the failure's
# panic message as the reason. A test that ran nothing fails: the binary
# runs with CI=true, so a test that would skip (tests/common/skip.rs) panics
# instead; an "ignored" test fails; a binary that reports no test (a filter
# that matched nothing) fails; and so does a run whose "test result:" line
# counts other tests than the lines above.
run_libtest() {
    local group=$1 bin=$2 out rc=0
    shift 2
    # A group name may hold "/" (group/scenario); the file name may not.
    out=/tmp/libtest-$(echo "$group" | tr / _).out
    # The SocketCAN tests are #[ignore]d on machines without CAN.
    CI=true "$bin" --test-threads=1 --include-ignored "$@" > "$out" 2>&1 || rc=$?
    libtest_results "$group" "$bin" "$rc" "$out"
}

# libtest_results GROUP BIN RC OUT: the checks of run_libtest from the
# libtest output in file OUT (separate, so it can be tried on any output).
libtest_results() {
    local group=$1 bin=$2 rc=$3 out=$4 n=0 ok=0 bad=0 name why
    while read -r name; do
        # An empty here-document still yields one empty line.
        [ -n "$name" ] || continue
        pass "$group/$name"; n=$((n + 1)); ok=$((ok + 1))
    done <<EOT
$(sed -n 's/^test \(.*\) \.\.\. ok$/\1/p' "$out")
EOT
    while read -r name; do
        [ -n "$name" ] || continue
        why=$(awk -v t="---- $name stdout ----" '$0 == t {f=1; next} f && (/^----/ || /^failures:/) {exit} f && NF {printf "%s ", $0}' "$out" | cut -c1-300)
        fail "$group/$name" "${why:-failed (see libtest output)}"; n=$((n + 1)); bad=$((bad + 1))
    done <<EOT
$(sed -n 's/^test \(.*\) \.\.\. FAILED$/\1/p' "$out")
EOT
    while read -r name; do
        [ -n "$name" ] || continue
        fail "$group/$name" "ignored: it ran nothing"; n=$((n + 1))
    done <<EOT
$(sed -n 's/^test \(.*\) \.\.\. ignored$/\1/p; s/^test \(.*\) \.\.\. ignored, .*$/\1/p' "$out")
EOT
    if [ "$n" -eq 0 ]; then
        fail "$group" "no test ran in $bin (exit $rc): $(tail -n 3 "$out" | tr '\n' ' ')"
        return
    fi
    # libtest's own count: a result line broken by other output is not lost.
    local counted
    counted=$(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed;.*$/\1 \2/p' "$out" | head -n 1)
    if [ "$counted" != "$ok $bad" ]; then
        fail "$group" "libtest counted '${counted:-no result line}' (passed failed), the lines $ok $bad (exit $rc)"
    fi
}

# Runs every check group in /vm/checks in name order, then prints the marker
# the host looks for. A group is a busybox-sh script NN-name.sh that uses the
# helpers of lib.sh; it runs in its own subshell so that one group's crash or
# `exit` cannot skip the others or the marker. A group that records no check
# at all ran nothing, and fails. (VM_DIR, /vm in the guest, lets the host's
# tests/vcan.rs run this on made-up groups.)
vm=${VM_DIR:-/vm}
. "$vm/lib.sh"
: > "$VCAN_RESULTS"
for group in "$vm"/checks/*.sh; do
    name=$(basename "$group" .sh)
    echo "== group $name at $(cut -d" " -f1 /proc/uptime)s uptime"
    before=$(wc -l < "$VCAN_RESULTS")
    ( . "$vm/lib.sh"; . "$group" ) || fail "group/$name" "the group script exited with status $?"
    [ "$(wc -l < "$VCAN_RESULTS")" -gt "$before" ] || fail "group/$name" "the group recorded no check: it ran nothing"
done
passed=$(grep -c '^PASS' "$VCAN_RESULTS")
failed=$(grep -c '^FAIL' "$VCAN_RESULTS")
echo "VCAN-SUITE-END passed=$passed failed=$failed"

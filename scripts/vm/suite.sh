# Runs every check group in /vm/checks in name order, then prints the marker
# the host looks for. A group is a busybox-sh script NN-name.sh that uses the
# helpers of lib.sh; it runs in its own subshell so that one group's crash or
# `exit` cannot skip the others or the marker.
. /vm/lib.sh
: > "$VCAN_RESULTS"
for group in /vm/checks/*.sh; do
    name=$(basename "$group" .sh)
    echo "== group $name at $(cut -d" " -f1 /proc/uptime)s uptime"
    ( . /vm/lib.sh; . "$group" ) || fail "group/$name" "the group script exited with status $?"
done
passed=$(grep -c '^PASS' "$VCAN_RESULTS")
failed=$(grep -c '^FAIL' "$VCAN_RESULTS")
echo "VCAN-SUITE-END passed=$passed failed=$failed"

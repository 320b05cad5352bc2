# ISO-TP extended addressing (issue 22): our IsoTpChannel against the
# kernel's CAN_ISOTP_EXTEND_ADDR (`isotprecv -x 58:40` / `isotpsend -x
# 58:40`), both directions, single and multi frame (1 to 4095 bytes, padding
# on and off, block size and STmin on both sides), the kernel using another
# address byte (0x58) than ours (0x40) (tests/vcan.rs, the isotp_extended_*
# tests). Then a live diagnosis of the fixture profile (a BCM on 0x750 [40]
# -> 0x758 [40]) against `trunkdiag simulate` of the same profile: every
# frame on the BCM's ids must carry 0x40 and the top verdict be the
# scenario's cause.
. /vm/checks/live.inc

TRUNKDIAG_VCAN=1 run_libtest isotp-extended /tests/vcan isotp_extended_

fixture=/repo/tests/data/profiles/extended-bcm.toml
d=$LIVE-extended
if [ ! -f "$fixture" ]; then
    fail isotp-extended/live "fixture $fixture not packed into the image"
elif live_run valet-lockout vcanX "$d" "$fixture" > "$d.out" 2>&1; then
    got=$(top_verdict "$d/diag.json")
    rc=$(cat "$d/diag.rc" 2>/dev/null)
    # The BCM's frames on the wire, as candump recorded them.
    bcm=$(cat "$d"/candump-*.log 2>/dev/null | grep -c ' 75[08]#')
    bad=$(cat "$d"/candump-*.log 2>/dev/null | grep ' 75[08]#' | grep -vc '#40')
    if [ "${got%% *}" = valet-lockout ] && [ "$rc" = 1 ] && [ "${bcm:-0}" -ge 4 ] \
        && [ "${bad:-1}" = 0 ]; then
        pass isotp-extended/live-valet-lockout
    else
        fail isotp-extended/live-valet-lockout "top verdict '$got' exit ${rc:-none}," \
            "$bcm BCM frames, $bad without address byte 0x40;" "$(tail -n 3 "$d/diag.err")"
    fi
else
    fail isotp-extended/live-valet-lockout "the live run did not complete: $(tail -n 3 "$d.out")"
fi

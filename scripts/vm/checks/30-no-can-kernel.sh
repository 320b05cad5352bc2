# With every CAN module unloaded the guest kernel is like the development
# hosts: our error must say "no SocketCAN support", not "no interface".
# The modules are loaded back afterwards for any later group.
# Removing the vcan module deletes its interfaces, so no cleanup first.
unloaded=1
for m in slcan vcan can_dev can_isotp can_raw can; do
    rmmod "$m" || { fail no-can-kernel/rmmod "rmmod $m failed"; unloaded=0; break; }
done
if [ "$unloaded" = 1 ]; then
    TRUNKDIAG_VCAN=no-can-kernel run_libtest no-can-kernel /tests/vcan --exact a_kernel_without_can_says_so
fi
for m in can can-raw can-isotp can-dev vcan slcan; do insmod /mods/$m.ko 2>/dev/null; done

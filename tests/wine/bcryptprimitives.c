/* Test-only stand-in for Windows' bcryptprimitives.dll, for running
 * trunkdiag.exe under Wine 8, which lacks it. Rust's standard library
 * (1.78 and later) imports ProcessPrng from it for random numbers (hash
 * seeds); Windows 10 and 11 have it. This forwards to RtlGenRandom
 * (advapi32's SystemFunction036), which Wine has. Built by
 * scripts/windows-build next to the exe under target/; never shipped in a
 * release archive (scripts/release refuses to pack it). */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

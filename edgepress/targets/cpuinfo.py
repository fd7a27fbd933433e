"""ARM ``/proc/cpuinfo`` text for an emulated CPU model.

QEMU's user mode does not emulate ``/proc/cpuinfo`` for aarch64 guests, so the guest
reads the host's x86 text and the runtimes' CPU detection (pytorch/cpuinfo inside ONNX
Runtime, XNNPACK and LiteRT) crashes. Worse, that library picks kernels from the MIDR's
"CPU part" alone: shown a Cortex-A76 cpuinfo, a Cortex-A72 guest runs dot-product
(``sdot``) int8 kernels and dies with SIGILL. So each CPU model gets a cpuinfo whose
MIDR and features match what QEMU emulates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Linux arm64 AT_HWCAP / AT_HWCAP2 bit names, in arch/arm64/kernel/cpuinfo.c order.
HWCAP_NAMES = (
    "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc "
    "dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs sb paca pacg"
).split()
HWCAP2_NAMES = (
    "dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 flagm2 frint svei8mm svef32mm svef64mm svebf16 i8mm "
    "bf16 dgh rng bti mte ecv afp rpres mte3 sme smei16i64 smef64f64 smei8i32 smef16f32 smeb16f32 smef32f32 smefa64 wfxt ebf16 sveebf16"
).split()


@dataclass(frozen=True)
class CpuId:
    """MIDR_EL1 and the kernel's HWCAP words, as QEMU 7.2 reports them for a ``-cpu``."""

    midr: int
    hwcap: int
    hwcap2: int = 0

    def features(self) -> list[str]:
        names = [n for i, n in enumerate(HWCAP_NAMES) if self.hwcap >> i & 1]
        return names + [n for i, n in enumerate(HWCAP2_NAMES) if self.hwcap2 >> i & 1]


# Read in the guest with 'mrs x0, midr_el1' and getauxval(AT_HWCAP/AT_HWCAP2) under QEMU 7.2.
# 'max,sme=off' reports max's MIDR; its HWCAPs without the SME bits.
KNOWN_CPUS: dict[str, CpuId] = {
    "cortex-a53": CpuId(0x410FD034, 0x8FB),
    "cortex-a57": CpuId(0x411FD070, 0x8FB),
    "cortex-a72": CpuId(0x410FD083, 0x8FB),
    "cortex-a76": CpuId(0x414FD0B1, 0x119FFB),
    "neoverse-n1": CpuId(0x414FD0C1, 0x119FFB),
    "a64fx": CpuId(0x461F0010, 0x415FFB),
    "max": CpuId(0x000F0510, 0xECFFFFFB, 0x7F877FFF),
    "max,sme=off": CpuId(0x000F0510, 0xECFFFFFB, 0x00077FFF),
}


def host_cpu_count() -> int:
    """CPUs the guest sees in /sys (the host's): one cpuinfo block each."""
    try:
        text = Path("/sys/devices/system/cpu/possible").read_text().strip()
        return max(int(r.split("-")[-1]) for r in text.split(",")) + 1
    except (OSError, ValueError):
        return os.cpu_count() or 1


def cpuinfo_text(cpu: CpuId, count: int | None = None) -> str:
    """/proc/cpuinfo as an arm64 Linux kernel writes it.

    Example:
        >>> "CPU part\\t: 0xd0b" in cpuinfo_text(KNOWN_CPUS["cortex-a76"], 1)
        True
    """
    m = cpu.midr
    block = (
        f"BogoMIPS\t: 50.00\nFeatures\t: {' '.join(cpu.features())}\n"
        f"CPU implementer\t: 0x{m >> 24 & 0xFF:02x}\nCPU architecture: 8\n"
        f"CPU variant\t: 0x{m >> 20 & 0xF:x}\nCPU part\t: 0x{m >> 4 & 0xFFF:03x}\n"
        f"CPU revision\t: {m & 0xF}\n\n"
    )
    return "".join(f"processor\t: {i}\n{block}" for i in range(count or host_cpu_count()))

"""What the machine can do fast, and the training arithmetic chosen from it.

bfloat16 halves the cost of the big matrix products only where the hardware runs it
natively: x86 CPUs with AVX-512 BF16 or AMX (Intel Sapphire Rapids and later, AMD Zen 4
and later), NVIDIA GPUs of compute capability 8.0 (Ampere) and later. Elsewhere (most
laptops, Ice Lake and older Xeons) it is emulated and costs about 2x more than float32
(measured: issue 13). On a CPU it pays only for a network wide enough: its casts cost
as much as a small network's products save (MIN_BF16_CPU_UNITS). The decision is a pure
function of the facts and the width, so it can be tested with the facts faked; the facts
are read from /proc/cpuinfo and from TensorFlow.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field

NATIVE_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
MIN_BF16_GPU = (8, 0)
# Narrower networks train in float32 on a CPU even where bfloat16 is native. Measured on an
# Intel Xeon with AMX (synthetic batches, 100-token windows, attention 64): 128 units,
# float32 1.12x bfloat16 (31,800-34,700 tokens/s against 26,200-31,300; issue 14's
# 4-minute run: 33,900 against 28,000-29,000); 256 units, bfloat16 1.06x (100-token
# windows) and 1.19x (64 x 35, no attention); 512 units, 1.18x (docs/benchmarks.md).
# Not measured: AVX-512 BF16 without AMX, or a narrow LSTM under a large output layer.
MIN_BF16_CPU_UNITS = 256


@dataclass(frozen=True)
class Facts:
    """What training may run on."""

    cpu_model: str = ""
    cpu_flags: frozenset[str] = frozenset()
    gpus: tuple[tuple[int, int], ...] = field(default_factory=tuple)  # compute capabilities

    @property
    def cpu_bf16(self) -> str | None:
        """The CPU feature that runs bfloat16 natively (AMX first), or None."""
        return next((f for f in NATIVE_BF16_CPU_FLAGS if f in self.cpu_flags), None)


@dataclass(frozen=True)
class Choice:
    precision: str  # a Keras dtype policy name
    reason: str     # one line for the user


def choose_precision(facts: Facts, units: int | None = None) -> Choice:
    """mixed_bfloat16 where the device that trains runs it natively (on a CPU, for a
    network of at least MIN_BF16_CPU_UNITS `units`; None: any width), else float32."""
    if facts.gpus:
        if all(cc >= MIN_BF16_GPU for cc in facts.gpus):
            return Choice("mixed_bfloat16", "the GPU runs bfloat16 natively (compute capability "
                                            f"{_cc(min(facts.gpus))})")
        return Choice("float32", f"the GPU (compute capability {_cc(min(facts.gpus))}) has no "
                                 f"native bfloat16 (needs 8.0 or later)")
    name = facts.cpu_model or "this CPU"
    if facts.cpu_bf16:
        feature = "AMX" if facts.cpu_bf16 == "amx_bf16" else "AVX-512 BF16"
        if units is not None and units < MIN_BF16_CPU_UNITS:
            return Choice("float32", f"{name} has {feature} (native bfloat16), but a network of "
                                     f"{units} units trains faster in float32 (bfloat16 from "
                                     f"{MIN_BF16_CPU_UNITS})")
        return Choice("mixed_bfloat16", f"{name} has {feature}: native bfloat16")
    return Choice("float32", f"{name} has no native bfloat16 (no AVX-512 BF16 or AMX): it "
                             f"would be emulated, slower than float32")


def _cc(cc: tuple[int, int]) -> str:
    return f"{cc[0]}.{cc[1]}"


def cpu_facts() -> Facts:
    """The CPU's model name and feature flags (Linux: /proc/cpuinfo; elsewhere, none
    known, which chooses float32)."""
    model, flags = "", frozenset()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = frozenset(value.split())
                if model and flags:
                    break
    except OSError:
        pass
    return Facts(model or platform.processor(), flags)  # ("x86_64" on most Linux: a last resort)


def memory_bytes() -> int | None:
    """The machine's physical memory (None where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def training_facts() -> Facts:
    """cpu_facts() and the GPUs TensorFlow sees (imports TensorFlow: training side only)."""
    import tensorflow as tf

    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        gpus.append(tuple(details.get("compute_capability") or (0, 0)))
    facts = cpu_facts()
    return Facts(facts.cpu_model, facts.cpu_flags, tuple(gpus))

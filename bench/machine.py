"""Describe the machine a benchmark ran on (printed with every figure)."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path


def machine_description() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    system = f"{platform.system()} {platform.release()}"
    return (
        f"{os.cpu_count()} cores ({cpu}){mem}, {system}, "
        f"Python {platform.python_version()} ({sys.executable})"
    )


def python_speed_ms(iterations: int = 2_000_000) -> float:
    """CPU milliseconds this interpreter takes for a fixed pure-Python loop: the machine's
    speed at that moment. This machine's speed drifts by 25 % and more within minutes (a
    shared virtual machine), so a figure means more beside it: lower is faster."""
    started = time.process_time()
    total = 0
    for i in range(iterations):
        total += i
    return (time.process_time() - started) * 1000

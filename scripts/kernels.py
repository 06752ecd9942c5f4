"""The compute kernels scripts/test.sh runs the numerical tests under, and a check that they took.

numpy and scipy ship OpenBLAS built for many CPUs at once and pick a kernel when loaded;
``OPENBLAS_CORETYPE`` forces one. torch picks its vectorised ATen kernels the same way, and
``ATEN_CPU_CAPABILITY=default`` forces the plain ones. A result that depends on the kernel (a
test tolerance taken from one machine's output) then fails here instead of on a user's machine:
one such test passed under Haswell and failed under SkylakeX (issue 13).

    python scripts/kernels.py list            # the settings this CPU can run, one per line
    OPENBLAS_CORETYPE=Haswell python scripts/kernels.py check   # says what is in effect;
                                              # exit status 1 if the setting did not take

tests/conftest.py makes the same check inside every pytest process that is asked for a kernel,
and stops it before any test when the setting did not take.

A setting whose instructions the CPU lacks (SkylakeX needs AVX-512) is left out of ``list``:
OpenBLAS would die of an illegal instruction. ``check`` reads the kernel each OpenBLAS reports
(threadpoolctl) and torch's CPU capability in the process it runs in.
"""

from __future__ import annotations

import os
import sys

# (variable, value, CPU flags it needs: all of them, as /proc/cpuinfo spells them)
SETTINGS = [
    ("OPENBLAS_CORETYPE", "Haswell", {"avx2", "fma"}),
    ("OPENBLAS_CORETYPE", "SkylakeX", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"}),
    ("OPENBLAS_CORETYPE", "Prescott", {"pni"}),  # pni: SSE3
    ("ATEN_CPU_CAPABILITY", "default", set()),
]

# What OpenBLAS calls the kernel it runs for a forced core type (Prescott reports "Katmai").
OPENBLAS_NAMES = {
    "haswell": {"haswell"},
    "skylakex": {"skylakex"},
    "prescott": {"prescott", "katmai"},
}


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags (Linux), or None where /proc/cpuinfo is not there."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return set()


def runnable() -> list[str]:
    flags = cpu_flags()
    if flags is None:  # not Linux: only what needs no particular instructions
        return [f"{var}={value}" for var, value, needs in SETTINGS if not needs]
    return [f"{var}={value}" for var, value, needs in SETTINGS if needs <= flags]


def in_effect() -> tuple[str, list[str]]:
    """What this process runs ("kernels: ..."), and why a requested setting did not take."""
    import numpy  # noqa: F401  (loads numpy's OpenBLAS)
    import scipy.linalg  # noqa: F401  (and scipy's)
    import torch
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    cores = sorted({f"{i['internal_api']} {i.get('architecture') or '?'}" for i in blas})
    capability = torch.backends.cpu.get_cpu_capability()
    line = f"kernels: numpy/scipy BLAS {', '.join(cores) or 'none found'}; torch ATen {capability}"
    problems = []
    wanted = os.environ.get("OPENBLAS_CORETYPE")
    if wanted:
        openblas = [i for i in blas if i["internal_api"] == "openblas"]
        names = OPENBLAS_NAMES.get(wanted.lower())
        if not openblas:
            line += f" (OPENBLAS_CORETYPE={wanted} has no effect: numpy uses no OpenBLAS)"
        elif names is None:  # a core type of the user's own: OpenBLAS maps some onto others
            line += f" (OPENBLAS_CORETYPE={wanted} not checked)"
            openblas = []
        for info in openblas:
            if str(info.get("architecture", "")).lower() not in names:
                problems.append(
                    f"OPENBLAS_CORETYPE={wanted} did not take: {info['filepath']} "
                    f"runs {info.get('architecture')}"
                )
    wanted = os.environ.get("ATEN_CPU_CAPABILITY")
    if wanted and capability.lower() != wanted.lower():
        problems.append(f"ATEN_CPU_CAPABILITY={wanted} did not take: torch runs {capability}")
    return line, problems


def check() -> int:
    line, problems = in_effect()
    print(line)
    for problem in problems:
        print(f"kernels: {problem}")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    if argv == ["list"]:
        print("\n".join(runnable()))
        return 0
    if argv == ["check"]:
        return check()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

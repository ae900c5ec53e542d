"""What the local sandbox shuts of the host's kernel: ``/proc``'s knobs, and the keyrings.

Bubblewrap without a user namespace keeps the harness's uid.  Two things of the
kernel are the uid's, not any namespace's, and so would be the harness user's:

- **``/proc/sys``** and the other knobs of ``/proc``: a root agent could write the
  host's settings (``kernel.core_pattern`` runs a program of its choice as host root).
  :func:`proc_args` makes them read-only and masks the files that tell about the
  host's kernel (docker's ``ReadonlyPaths`` and ``MaskedPaths``).
- **the keyrings** (``keyctl``, ``add_key``, ``request_key``): an agent would read and
  write the harness user's keyring (credential stores keep tokens there).  Docker's
  default seccomp profile refuses these calls; :func:`program` does the same for
  bubblewrap (``--seccomp FD``), answering ``EPERM``; the machine's other ABIs (x32,
  i386 on x86-64) are refused by number too, so a 32-bit binary cannot go around it.

The program is a few classic-BPF instructions, assembled here (no library: it is
small and fixed); :func:`filter_path` writes it once per process to a file the
launch opens for bwrap.
"""

from __future__ import annotations

import atexit
import os
import platform
import struct
import tempfile
from pathlib import Path
from typing import Optional, Sequence

_LD_ABS_W = 0x20          # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15             # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35             # BPF_JMP | BPF_JGE | BPF_K
_RET_K = 0x06             # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000       # SECCOMP_RET_ALLOW
_EPERM = 0x00050000 | 1   # SECCOMP_RET_ERRNO | EPERM
_X32_BIT = 0x40000000

#: Per machine: (audit arch, keyring syscall numbers) for each ABI it runs.
_ABIS = {
    "x86_64": ((0xC000003E, (248, 249, 250)), (0x40000003, (286, 287, 288))),  # x86-64, i386
    "aarch64": ((0xC00000B7, (217, 218, 219)), (0x40000028, (309, 310, 311))),  # arm64, arm (compat)
}


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program(machine: Optional[str] = None) -> Optional[bytes]:
    """The filter for ``machine`` (this one by default), or None where it is not known."""
    abis = _ABIS.get(machine or platform.machine())
    if abis is None:
        return None
    # (code, k, jump-if-true label, jump-if-false label); labels are resolved below.
    code: list[tuple] = [(_LD_ABS_W, 4, None, None)]  # seccomp_data.arch
    for n, (arch, numbers) in enumerate(abis):
        code.append((_JEQ_K, arch, None, f"abi{n + 1}"))
        code.append((_LD_ABS_W, 0, None, None))  # seccomp_data.nr
        if arch == 0xC000003E:
            code.append((_JGE_K, _X32_BIT, "deny", None))
        code += [(_JEQ_K, number, "deny", None) for number in numbers]
        code.append((_RET_K, _ALLOW, None, None))
        code.append(f"abi{n + 1}")
    code.append((_RET_K, _ALLOW, None, None))  # an ABI not listed: nothing to refuse
    code.append("deny")
    code.append((_RET_K, _EPERM, None, None))
    labels, at = {}, 0
    for item in code:
        if isinstance(item, str):
            labels[item] = at
        else:
            at += 1
    out, at = [], 0
    for item in code:
        if isinstance(item, str):
            continue
        op, k, jt, jf = item
        out.append(_insn(op, k, labels[jt] - at - 1 if jt else 0, labels[jf] - at - 1 if jf else 0))
        at += 1
    return b"".join(out)


#: Parts of ``/proc`` that reach the host's kernel, made read-only (docker's ``ReadonlyPaths``):
#: bubblewrap keeps the harness's uid (root, when the harness is) and a writable ``/proc/sys`` would
#: be the host's (``kernel.core_pattern`` runs a program as host root).
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
#: Parts of ``/proc`` that tell about the host's kernel and hardware, hidden (docker's ``MaskedPaths``).
PROC_MASKED = ("kcore", "keys", "timer_list", "timer_stats", "sched_debug", "latency_stats", "acpi", "scsi",
               "asound", "kallsyms", "kmsg")


def proc_args() -> list[str]:
    """bwrap arguments, after ``--proc /proc``, that make the kernel's knobs read-only and hide the rest."""
    args: list[str] = []
    for name in PROC_READ_ONLY:
        if os.path.lexists(f"/proc/{name}"):
            args += ["--ro-bind", f"/proc/{name}", f"/proc/{name}"]
    for name in PROC_MASKED:
        path = f"/proc/{name}"
        if os.path.isdir(path):
            args += ["--size", "4096", "--tmpfs", path, "--remount-ro", path]
        elif os.path.lexists(path):
            args += ["--ro-bind", "/dev/null", path]
    return args


_WRITTEN: dict = {}


def filter_path() -> Optional[str]:
    """A file holding :func:`program`, or None where there is none.

    Written once per process, and again should it have gone (a test's temporary folder);
    removed when the process exits.
    """
    code = program()
    if code is None:
        return None
    path = _WRITTEN.get("path")
    if path and os.path.isfile(path):
        return path
    fd, path = tempfile.mkstemp(prefix="cab-seccomp-", suffix=".bpf")
    with os.fdopen(fd, "wb") as fh:
        fh.write(code)
    if not _WRITTEN:
        atexit.register(lambda: Path(_WRITTEN["path"]).unlink(missing_ok=True))
    _WRITTEN["path"] = path
    return path


def seccomp_args(avoid: Sequence[int] = ()) -> tuple[list[str], list[str]]:
    """``(prefix, bwrap arguments)``: the prefix opens the filter on a descriptor (3 to 9, the
    ones ``/bin/sh`` can name, not one in ``avoid``: descriptors passed on to bwrap) and runs
    the rest; the arguments are ``--seccomp FD``.  Both empty where there is no filter."""
    path = filter_path()
    fd = next((n for n in range(9, 2, -1) if n not in set(avoid)), None)
    if path is None or fd is None:
        return [], []
    return ["/bin/sh", "-c", f'exec {fd}<"$0" && exec "$@"', path], ["--seccomp", str(fd)]

"""The seccomp filter of every sandboxed process: kernel interfaces a math cell never needs, refused.

Built once with libseccomp's own Python bindings (the ``mephi42-seccomp`` wheel: the upstream bindings, statically
linked, so no system library is needed) and handed to bubblewrap as a compiled BPF program (``--seccomp FD``),
which loads it just before it starts the kernel, after its own namespace set-up. Blocked calls fail with
``ENOSYS``, as if the kernel did not have them, so libraries take their fallbacks (asyncio without io_uring, glibc
without clone3) and a test can tell the filter's answer from a permission error. System calls of another
architecture (32-bit ``int 0x80``, x32) kill the process: libseccomp's default for a foreign architecture.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile

BLOCKED = (
    # kernel attack surface with a history of exploits
    "io_uring_setup", "io_uring_enter", "io_uring_register", "bpf", "perf_event_open", "userfaultfd",
    "keyctl", "add_key", "request_key",
    # other processes' memory
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise",
    # the mount family and namespaces (capabilities are gone already; this removes the code paths)
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr", "unshare", "setns", "name_to_handle_at", "open_by_handle_at",
    # the machine itself
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
    "swapoff", "acct", "quotactl", "syslog", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "iopl", "ioperm", "vhangup", "personality", "fanotify_init", "lookup_dcookie",
)
# clone3 passes its flags in memory, where a filter cannot look: refusing it makes glibc fall back to clone
NO_CLONE3 = "clone3"
# clone with any of these flags would make a namespace
CLONE_NAMESPACES = (0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
                    | 0x00000080)  # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME


@functools.lru_cache(maxsize=1)
def filter_program() -> bytes:
    """The compiled BPF program (a few hundred bytes), as the kernel loads it."""
    import seccomp

    deny = seccomp.ERRNO(errno.ENOSYS)
    filt = seccomp.SyscallFilter(seccomp.ALLOW)
    for name in (*BLOCKED, NO_CLONE3):
        filt.add_rule(deny, name)
    for flag in range(32):  # MASKED_EQ matches all bits at once: one rule per namespace flag
        bit = 1 << flag
        if CLONE_NAMESPACES & bit:
            filt.add_rule(deny, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, bit, bit))
    with tempfile.TemporaryFile() as f:
        filt.export_bpf(f)
        f.seek(0)
        return f.read()


def program_fd() -> int:
    """A fresh fd holding the program from its start, for one bubblewrap (which reads it to the end)."""
    fd = os.memfd_create("nemo-math-seccomp", 0)
    data = filter_program()
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd

"""The bubblewrap command line that confines one sandboxed Python process.

Inside: a read-only view of /usr and of the interpreter's own prefixes (for numpy, sympy, scipy, mpmath), a
private 1777 tmpfs as the working directory, a fresh /proc and a minimal /dev, no network but ``lo``, its own
pid/ipc/uts namespaces, an empty environment, nothing of /etc, the home directory or the project. bubblewrap
does the namespaces and mounts (its ``--die-with-parent`` ties the sandbox's life to ours); this module only
picks the paths.

Who the code runs as matters for the process limit: Linux does not apply RLIMIT_NPROC to processes whose real
uid is host root, and bubblewrap started by root maps the sandbox user to host root. So as root each process
drops, after the mounts, to its own unused uid (``uid_base + n``, via ``setpriv``: no capabilities, no new
privileges) and a second, unprivileged bubblewrap adds a user namespace that forbids creating further ones (a
process could otherwise mount a tmpfs of its own past every limit); as any other user, bubblewrap's user
namespace gives both at once. Either way the kernel is pid 1 of its own pid namespace (``--as-pid-1``), so
``kill(-1)`` reaches exactly what its cells started, and nothing outside it can be seen or signalled.

Nothing outlives the host process, whatever ends it (``kill -9`` included): every layer gets a parent-death signal
(SIGKILL) before it runs anything of its own. The first command is ``setpriv --pdeathsig KILL``, which execs a
shell that checks that the host is still its parent (it may have died before the signal was armed), joins the
session's cgroups and execs the outer bubblewrap, whose ``--die-with-parent`` re-arms it for itself and its pid
namespace's init; as root the inner ``setpriv`` (after the uid change, which disarms it) and the inner bubblewrap
arm it again. The outer pid namespace dies with its init, every layer below included, and the session's cgroup
is killed whole (cgroups.py). The kernel
runs in a session of its own (``--new-session``): its process group used to hold the inner bubblewrap, which a
cell's ``kill(0)`` (same uid) could kill, taking the whole sandbox down. The last bubblewrap
loads the seccomp filter (syscalls.py) just before it starts Python. As root, the working
tmpfs is remounted with an inode limit (``nr_inodes``, which bubblewrap cannot set) before the uid is dropped.
"""

from __future__ import annotations

import functools
import json
import marshal
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from nemo_math.sandbox.config import SandboxConfig

KERNEL_SOURCE = Path(__file__).with_name("kernel.py")
KERNEL_PATH = "/sandbox/kernel.py"  # where the kernel is bound inside
WORKDIR = "/tmp"
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": WORKDIR, "TMPDIR": WORKDIR, "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
    "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
}
# what bubblewrap itself is started with: nothing of ours (secrets in our environment stay outside)
HOST_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot run here (bubblewrap missing, namespaces refused, interpreter broken)."""


def find_tool(name: str, package: str) -> str:
    path = shutil.which(name, path=f"{os.environ.get('PATH', '')}:{HOST_ENV['PATH']}")
    if path is None:
        raise SandboxUnavailable(
            f"the Python sandbox needs `{name}` and it is not installed: run `apt-get install {package}` "
            f"(install.sh does this) or the equivalent for your distribution")
    return path


@dataclass(frozen=True)
class Interpreter:
    """The Python run inside: its executable, the directories it needs, and its import path."""

    executable: str
    roots: tuple[str, ...]
    path: tuple[str, ...]


@functools.lru_cache(maxsize=8)
def probe_interpreter(python: str) -> Interpreter:
    script = ("import json, os, sys; print(json.dumps({'prefixes': [sys.prefix, sys.base_prefix, sys.exec_prefix,"
              " sys.base_exec_prefix, os.path.dirname(os.path.realpath(sys.executable))], 'path': sys.path}))")
    try:
        out = subprocess.run([python, "-c", script], capture_output=True, text=True, check=True, timeout=60,
                             env=HOST_ENV).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise SandboxUnavailable(f"sandbox interpreter {python}: cannot run it: {err}") from None
    info = json.loads(out)
    roots: list[str] = []
    for prefix in sorted({os.path.realpath(p) for p in info["prefixes"]}, key=len):
        prefix = os.path.dirname(prefix) if prefix.endswith("/bin") else prefix
        if not _under(prefix, ["/usr", *roots]):
            roots.append(prefix)
    path = tuple(p for p in info["path"] if p and os.path.isabs(p) and _under(os.path.realpath(p), ["/usr", *roots]))
    return Interpreter(executable=os.path.abspath(python), roots=tuple(roots), path=path)


def _under(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _mount_args(cfg: SandboxConfig, interp: Interpreter) -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    # the working tmpfs goes first: an interpreter that lives below it (a checkout under /tmp) is bound on top
    args += ["--perms", "1777", "--size", str(cfg.tmpfs_mb << 20), "--tmpfs", WORKDIR]
    bound = ["/usr"]
    made: set[str] = {WORKDIR}
    sources = [*interp.roots, *cfg.extra_ro_binds]
    exe_dir = os.path.dirname(interp.executable)  # a venv's bin/python is a symlink into the base prefix
    if not _under(exe_dir, ["/usr", *interp.roots]):
        sources.append(os.path.dirname(exe_dir))
    for src in sources:
        src = os.path.abspath(src)
        if _under(src, bound):
            continue
        if not os.path.exists(src):
            raise SandboxUnavailable(f"sandbox: {src} (to be bound read-only) does not exist")
        # parents are made world-traversable: bubblewrap would copy their host modes (e.g. 0700 /root)
        parents = [p for p in Path(src).parents if str(p) != "/"]
        for parent in map(str, reversed(parents)):
            if parent not in made:
                args += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        args += ["--ro-bind", src, src]
        bound.append(src)
    args += ["--perms", "0755", "--dir", os.path.dirname(KERNEL_PATH), "--ro-bind", str(KERNEL_SOURCE), KERNEL_PATH,
             "--perms", "0755", "--dir", "/etc", "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
             "--proc", "/proc", "--dev", "/dev",
             "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORKDIR]
    return args


def tied_to_host(cmd: list[str], first: str = "") -> list[str]:
    """``cmd`` (bubblewrap) behind a parent-death signal armed at once: without it, a host killed between the
    start of the process and bubblewrap's own ``--die-with-parent`` left bubblewrap and its sandbox running.
    ``first``: shell commands run before (joining the cgroups)."""
    script = f'[ "$PPID" = {os.getpid()} ] && ' + (f"{first} && " if first else "") + 'exec "$@"'
    return [find_tool("setpriv", "util-linux"), "--pdeathsig", "KILL", "--", find_tool("sh", "dash"), "-c", script,
            "sh", *cmd]


def runs_as_root(cfg: SandboxConfig) -> bool:
    if cfg.isolation not in ("auto", "userns"):
        raise SandboxUnavailable(f"sandbox.isolation={cfg.isolation!r}: expected 'auto' or 'userns'")
    return cfg.isolation == "auto" and os.geteuid() == 0


def bwrap_command(cfg: SandboxConfig, interp: Interpreter, uid: int | None,
                  seccomp_fd: int | None = None) -> list[str]:
    """The argv that starts one sandboxed kernel; ``uid`` is the host uid to drop to (root mode) or None;
    ``seccomp_fd`` an inherited fd holding the compiled filter (syscalls.program_fd)."""
    seccomp = [] if seccomp_fd is None else ["--seccomp", str(seccomp_fd)]
    cmd = [find_tool("bwrap", "bubblewrap"), "--die-with-parent", "--unshare-ipc", "--unshare-pid",
           "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", "--clearenv"]
    if uid is None:
        cmd += ["--unshare-user", "--uid", "65534", "--gid", "65534", "--disable-userns", "--cap-drop", "ALL"]
    cmd += _mount_args(cfg, interp)
    for key, value in SANDBOX_ENV.items():
        cmd += ["--setenv", key, value]
    if uid is None:
        cmd += [*seccomp, "--new-session", "--as-pid-1", "--"]
    else:  # limit the tmpfs's inodes, drop to the uid, then a user namespace only to forbid creating more
        remount = f"remount,size={cfg.tmpfs_mb << 20},nr_inodes={cfg.tmpfs_inodes}"
        cmd += ["--", find_tool("sh", "dash"), "-c", f'mount -o {remount} {WORKDIR} && exec "$@"', "sh",
                find_tool("setpriv", "util-linux"), f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--pdeathsig", "KILL", "--",
                cmd[0], "--die-with-parent", "--unshare-user", "--disable-userns", "--unshare-pid", "--new-session",
                "--as-pid-1",
                "--ro-bind", "/", "/", "--dev-bind", "/dev", "/dev", "--ro-bind", "/proc", "/proc",
                "--bind", WORKDIR, WORKDIR, "--chdir", WORKDIR, *seccomp, "--"]
    mb = 1 << 20
    # "" on the path: the working directory first, as in a notebook
    opts = {"path": ["", *interp.path], "preload": list(cfg.preload), "max_chars": cfg.max_output_chars,
            "rlimits": {"RLIMIT_AS": cfg.memory_mb * mb, "RLIMIT_FSIZE": cfg.file_size_mb * mb,
                        "RLIMIT_NOFILE": cfg.max_open_files, "RLIMIT_NPROC": cfg.max_processes, "RLIMIT_CORE": 0}}
    return cmd + [interp.executable, "-S", "-s", "-B", KERNEL_PATH, marshal.dumps(opts).hex()]

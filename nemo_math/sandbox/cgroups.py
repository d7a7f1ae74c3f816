"""Per-session budgets from cgroups: memory, process count and CPU for a session as a whole, frozen between cells.

rlimits bound each process, not a session: eight forked children each get the full address space, and a thread
left running after a cell burns CPU outside the cell's time limit. So every sandboxed process (bubblewrap and
everything below it) starts in a cgroup of its own, joined before bubblewrap starts, with

- ``memory.max`` (v2) or ``memory.limit_in_bytes`` (v1): the session's memory, page cache and tmpfs files included;
- ``pids.max``: its processes and threads;
- ``cpu.max`` / ``cpu.cfs_quota_us``: its CPUs, whatever threads it starts;
- ``cgroup.freeze`` (v2): frozen while no cell runs, so nothing it left behind runs between cells;
- ``cgroup.kill`` (v2): ending a session kills every process in it at once.

Each controller comes from cgroup v2 where it is enabled for us, else from its v1 hierarchy (hosts mounting both,
as many container VMs do). What cannot be had is listed in :attr:`Cgroups.missing` and logged once, with the
bound that holds instead; nothing is silently assumed. Own code rather than a library: the few files written
here are the whole interface, and the libraries (cgroupspy, systemd's D-Bus API) each cover one version only.
"""

from __future__ import annotations

import errno
import itertools
import os
import shlex
import time

_WANTED = ("memory", "pids", "cpu")
_CPU_PERIOD_US = 100_000
# pool folders are named by pid and this counter: a closed pool whose folder outlived it (sessions still dying)
# must never be reused by a later pool of the same process, as an object id could be
_POOL_NUMBERS = itertools.count()


def _mounts() -> tuple[str | None, dict[str, str]]:
    """The cgroup2 mount point and, per v1 controller, its hierarchy's mount point (mounted at their root)."""
    v2, v1 = None, {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            fields, tail_fields = head.split(), tail.split()
            if fields[3] != "/" or len(tail_fields) < 3:
                continue
            if tail_fields[0] == "cgroup2":
                v2 = fields[4]
            elif tail_fields[0] == "cgroup":
                for option in tail_fields[2].split(","):
                    if option in (*_WANTED, "freezer"):
                        v1[option] = fields[4]
    return v2, v1


def _own_paths() -> dict[str, str]:
    """Our cgroup per hierarchy: "" for v2, else each v1 controller name."""
    paths = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _rmdir(path: str, patience_s: float = 5.0) -> None:
    """Remove a cgroup once its killed processes have left it (exiting takes the kernel a moment)."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                return  # left for the next pool on this host to remove (see Cgroups._remove_stale)
            time.sleep(0.005)


class SessionCgroup:
    """The cgroups of one sandboxed process tree."""

    def __init__(self, dirs: list[str], v2_dir: str | None):
        self.dirs = dirs
        self._procs = [os.path.join(d, "cgroup.procs") for d in dirs]
        self._freeze_fd = os.open(os.path.join(v2_dir, "cgroup.freeze"), os.O_WRONLY) if v2_dir else None
        self._kill_file = os.path.join(v2_dir, "cgroup.kill") if v2_dir else None

    def join_script(self) -> str:
        """Shell commands that move the shell running them into every cgroup, before it execs bubblewrap (a
        preexec_fn would make Python fork the whole host process, with the GIL held, instead of vfork)."""
        return " && ".join(f"echo 0 > {shlex.quote(path)}" for path in self._procs)

    def freeze(self, frozen: bool) -> None:
        if self._freeze_fd is not None:
            os.pwrite(self._freeze_fd, b"1" if frozen else b"0", 0)

    def kill(self) -> None:
        """SIGKILL everything in the session (a frozen cgroup too); ``remove`` once the caller reaped its child."""
        if self._kill_file is not None and os.path.exists(self._kill_file):
            _write(self._kill_file, "1")
            return
        for d in self.dirs:
            for _ in range(100):  # v1: no cgroup.kill; a fork racing the loop is caught by the next round
                try:
                    pids = [int(p) for p in _read(os.path.join(d, "cgroup.procs")).split()]
                except OSError:
                    break
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass

    def remove(self) -> None:
        if self._freeze_fd is not None:
            os.close(self._freeze_fd)
            self._freeze_fd = None
        for d in self.dirs:
            _rmdir(d)


class Cgroups:
    """A pool's cgroups: one folder per hierarchy under our own cgroup, one session cgroup per process in each."""

    def __init__(self, memory_bytes: int, pids: int, cpus: float):
        self._limits = {"memory": memory_bytes, "pids": pids, "cpu": cpus}
        self._tag = f"nemo-math-{os.getpid()}-{next(_POOL_NUMBERS)}"
        self._count = 0
        self.v2_pool: str | None = None
        self.pools: dict[str, str] = {}  # pool folder -> the controllers it carries ("" for v2 core only)
        self.enforced: dict[str, str] = {}
        try:
            self._setup()
        except OSError:
            pass  # no cgroup file system we may write: everything stays in `missing`
        self.missing = [c for c in (*_WANTED, "freeze") if c not in self.enforced]

    def _setup(self) -> None:
        v2_mount, v1_mounts = _mounts()
        own = _own_paths()
        if v2_mount is not None and "" in own:
            base = os.path.normpath(v2_mount + own[""])
            self._remove_stale(base)
            try:
                os.mkdir(pool := os.path.join(base, self._tag))
                self.v2_pool = pool
            except OSError:
                pass
        if self.v2_pool is not None:
            base = os.path.dirname(self.v2_pool)
            for name in _WANTED:  # works where our cgroup is the root, or holds no process (delegated)
                if name in _read(os.path.join(base, "cgroup.controllers")).split():
                    try:
                        _write(os.path.join(base, "cgroup.subtree_control"), f"+{name}")
                    except OSError:
                        pass
            v2_names = [n for n in _WANTED if n in _read(os.path.join(self.v2_pool, "cgroup.controllers")).split()]
            if v2_names:
                _write(os.path.join(self.v2_pool, "cgroup.subtree_control"), " ".join(f"+{n}" for n in v2_names))
            self.pools[self.v2_pool] = " ".join(v2_names)
            self.enforced.update({n: "cgroup v2" for n in v2_names})
            self.enforced["freeze"] = "cgroup v2"
        for name in _WANTED:
            if name in self.enforced or name not in v1_mounts or name not in own:
                continue
            base = os.path.normpath(v1_mounts[name] + own[name])
            pool = os.path.join(base, self._tag)
            if pool in self.pools:
                self.pools[pool] += f" {name}"
            else:
                self._remove_stale(base)
                try:
                    os.mkdir(pool)
                except OSError:
                    continue
                self.pools[pool] = name
            self.enforced[name] = "cgroup v1"

    def session(self) -> SessionCgroup | None:
        """A new session cgroup with the limits written, or None where no cgroup can be made."""
        if not self.pools:
            return None
        self._count += 1
        dirs, v2_dir = [], None
        try:
            for pool, names in self.pools.items():
                d = os.path.join(pool, f"s{self._count}")
                os.mkdir(d)
                dirs.append(d)
                if pool == self.v2_pool:
                    v2_dir = d
                for name in names.split():
                    self._limit(d, name, v2=pool == self.v2_pool)
        except OSError:
            for d in dirs:
                _rmdir(d, 0)
            raise
        return SessionCgroup(dirs, v2_dir)

    def _limit(self, d: str, name: str, v2: bool) -> None:
        value = self._limits[name]
        if name == "memory":
            _write(os.path.join(d, "memory.max" if v2 else "memory.limit_in_bytes"), str(value))
            swap = os.path.join(d, "memory.swap.max" if v2 else "memory.memsw.limit_in_bytes")
            if os.path.exists(swap):
                _write(swap, "0" if v2 else str(value))
        elif name == "pids":
            _write(os.path.join(d, "pids.max"), str(value))
        elif v2:
            _write(os.path.join(d, "cpu.max"), f"{max(int(value * _CPU_PERIOD_US), 1000)} {_CPU_PERIOD_US}")
        else:
            _write(os.path.join(d, "cpu.cfs_period_us"), str(_CPU_PERIOD_US))
            _write(os.path.join(d, "cpu.cfs_quota_us"), str(max(int(value * _CPU_PERIOD_US), 1000)))

    def close(self) -> None:
        for pool in self.pools:
            _rmdir(pool, 0)
        self.pools = {}

    @staticmethod
    def _remove_stale(base: str) -> None:
        """Pools of a process that died without closing (killed), left by an earlier run: whatever still runs in
        them (nothing should: the pid namespace dies with bubblewrap) is killed, and the folders removed."""
        try:
            entries = os.listdir(base)
        except OSError:
            return
        for entry in entries:
            parts = entry.split("-")
            if len(parts) != 4 or parts[:2] != ["nemo", "math"] or not parts[2].isdigit():
                continue
            if parts[2] != str(os.getpid()) and not os.path.exists(f"/proc/{parts[2]}"):
                pool = os.path.join(base, entry)
                for child in os.listdir(pool):
                    if os.path.isdir(os.path.join(pool, child)):
                        session = SessionCgroup([os.path.join(pool, child)], None)
                        session.kill()
                        session.remove()
                _rmdir(pool, 0)

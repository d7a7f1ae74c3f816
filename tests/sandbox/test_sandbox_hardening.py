"""Issue 14: a cell can neither stall the pool, nor exceed its session's budget, nor forge another cell's reply,
nor reach the kernel interfaces the seccomp filter removes."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading

import pytest
import seccomp

from sandbox_helpers import UID_BASE, readable
from nemo_math.sandbox import Sandbox
from nemo_math.sandbox.syscalls import BLOCKED

pytestmark = pytest.mark.sandbox

# the kernel's own module is __main__ in its process; fd 3 is its request pipe, fd 4 its reply pipe
STALL_KERNEL = ("import fcntl, sys, time\n"
                "fcntl.fcntl(3, 1031, 4096)  # F_SETPIPE_SZ: the smallest pipe\n"
                "sys.modules['__main__']._recv = lambda fd: time.sleep(10**6)\n")


def _in_thread(fn):
    """Run fn in a thread; a guard against a hang (the old code blocked forever), not a timing assumption."""
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("result", fn()), daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the call never returned"
    return out["result"]


def test_a_kernel_that_stops_reading_cannot_stall_the_pool(sandbox, healthy):
    for sid in ("stall-1", "stall-2"):  # two stalled sessions froze both workers before
        sandbox.execute("kept = 1", session_id=sid)
        assert sandbox.execute(STALL_KERNEL, session_id=sid).status == "ok"
    results = [_in_thread(lambda sid=sid: sandbox.execute("x = '" + "y" * 65536 + "'", session_id=sid, timeout=1))
               for sid in ("stall-1", "stall-2")]
    for r in results:
        assert (r.status, r.restarted) == ("killed", True), r.output
        assert r.elapsed_s < 120  # cut at timeout + kill_grace_s (4 s), not left hanging; generous for a busy machine
    _in_thread(lambda: sandbox.close_session("stall-1"))
    healthy("stall-2")


def test_a_cell_cannot_stall_its_own_reply_pipe_past_the_deadline(sandbox, healthy):
    r = _in_thread(lambda: sandbox.execute(
        "import fcntl, os\nfcntl.fcntl(4, 1031, 4096)\n"
        "os.set_blocking(4, False)\n"
        "try:\n    os.write(4, b'\\x00\\x10\\x00\\x00' + b'{' * 4092)\nexcept BlockingIOError:\n    pass\n"
        "import time\ntime.sleep(10**6)", session_id="stall-reply", timeout=1))
    assert (r.status, r.restarted) in {("killed", True), ("crashed", True)}, r.output
    healthy("stall-reply")


def _forge(body: str) -> str:
    return ("import os, struct\n"
            f"body = {body}\n"
            "os.write(4, struct.pack('>I', len(body)) + body)\n")


def test_a_forged_reply_is_refused_and_the_session_stays_in_step(sandbox, healthy):
    fake = ("b'{\"status\": \"ok\", \"stdout\": \"forged\", \"stderr\": \"\", \"output\": \"forged\", "
            "\"truncated\": false}'")
    r = sandbox.execute(_forge(fake), session_id="forge-1")
    assert (r.status, r.restarted) == ("crashed", True) and "forged" not in r.output
    assert sandbox.execute("1 + 1", session_id="forge-1").output == "2\n"  # not the forging cell's late reply
    healthy("forge-1")


def test_a_huge_forged_reply_is_bounded(sandbox, healthy):
    fake = ("b'{\"status\": \"ok\", \"stdout\": \"' + b'x' * 3_000_000 + b'\", \"stderr\": \"\", "
            "\"output\": \"x\", \"truncated\": false}'")
    r = sandbox.execute(_forge(fake), session_id="forge-2")
    assert (r.status, r.restarted) == ("crashed", True)
    assert len(r.stdout) <= 1000 and len(r.output) <= 1000
    healthy("forge-2")


def test_a_deeply_nested_forged_reply_does_not_raise(sandbox, healthy):
    r = sandbox.execute(_forge("b'[' * 100_000 + b']' * 100_000"), session_id="forge-3")
    assert (r.status, r.restarted) == ("crashed", True)
    healthy("forge-3")


def test_a_reply_forged_with_the_stolen_nonce_only_answers_its_own_cell(sandbox, healthy):
    """A cell can find its nonce in its own process's memory; then it forges what it could have printed, and the
    late genuine reply is skipped, so the next cell gets its own reply."""
    steal = ("import sys, json, os, struct\n"
             "f = sys._getframe()\n"
             "while 'request' not in f.f_locals:\n"
             "    f = f.f_back\n"
             "body = json.dumps({'status': 'ok', 'stdout': 'mine', 'stderr': '', 'output': 'mine',"
             " 'truncated': False, 'nonce': f.f_locals['request'][2]}).encode()\n"
             "os.write(4, struct.pack('>I', len(body)) + body)\n")
    r = sandbox.execute(steal, session_id="forge-4")
    assert (r.status, r.output) == ("ok", "mine")
    assert sandbox.execute("2 + 2", session_id="forge-4").output == "4\n"
    healthy("forge-4")


# --- budgets -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def budget_sandbox(sandbox_config):
    with Sandbox(config=sandbox_config, session_memory_mb=400, memory_mb=1024, spare_sessions=1,
                 uid_base=UID_BASE + 8000) as sb:
        yield sb


def test_a_session_memory_budget_holds_across_forked_children(budget_sandbox):
    if "memory" not in budget_sandbox.budgets:
        pytest.skip(f"no memory cgroup on this host (budgets: {budget_sandbox.budgets})")
    # 8 children each hold 200 MB then stop themselves; the parent counts those alive and holding it
    r = budget_sandbox.execute(
        "import os, signal\n"
        "pids = []\n"
        "for _ in range(8):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        block = b'\\x01' * (200 << 20)\n"
        "        os.kill(os.getpid(), signal.SIGSTOP)\n"
        "        os._exit(0)\n"
        "    pids.append(pid)\n"
        "held = sum(os.WIFSTOPPED(os.waitpid(pid, os.WUNTRACED)[1]) for pid in pids)\n"
        "held", session_id="mem-fork", timeout=60)
    assert r.status == "ok", r.output
    assert int(r.output) * 200 <= 400  # before: all 8 (1.6 GB) against a 400 MB bound
    assert budget_sandbox.execute("'alive'", session_id="mem-fork").output == "'alive'\n"


def test_a_thread_left_running_gets_no_cpu_between_cells(budget_sandbox):
    if "freeze" not in budget_sandbox.budgets:
        pytest.skip(f"no cgroup v2 freezer on this host (budgets: {budget_sandbox.budgets})")
    burner = ("import resource, threading\n"
              "def burn():\n"
              "    while True:\n"
              "        pass\n"
              "threading.Thread(target=burn, daemon=True).start()\n"
              "def cpu():\n"
              "    u = resource.getrusage(resource.RUSAGE_SELF)\n"
              "    return u.ru_utime + u.ru_stime\n"
              "before = cpu()\n")
    assert budget_sandbox.execute(burner, session_id="burn").status == "ok"
    for _ in range(50):  # other work meanwhile: ~1 CPU-s in another session; the burner is frozen after 0.05 s
        busy = budget_sandbox.execute("import time\nt = time.process_time()\nwhile time.process_time() - t < 0.02:"
                                      "\n    pass", session_id="busy")
        assert busy.status == "ok"
    r = budget_sandbox.execute("round(cpu() - before, 3)", session_id="burn")
    assert float(r.output) < 0.3, r.output  # before: the thread burned CPU all along


@pytest.mark.skipif(os.geteuid() != 0, reason="the inode limit is set as root (bubblewrap cannot set it)")
def test_the_tmpfs_inode_count_is_bounded(sandbox, healthy):
    r = sandbox.execute(
        "import errno\n"
        "n = 0\n"
        "try:\n"
        "    while n < 40000:\n"
        "        open(f'/tmp/e{n}', 'w').close()\n"
        "        n += 1\n"
        "except OSError as e:\n"
        "    print(errno.errorcode[e.errno])\n"
        "n", session_id="inodes", timeout=60)
    assert r.status == "ok", r.output
    code, count = r.output.split()
    assert code == "ENOSPC" and int(count) < 20000
    sandbox.close_session("inodes")
    healthy()


# --- the seccomp filter ------------------------------------------------------------------------------------------

SYSCALL = ("import ctypes, os\n"
           "libc = ctypes.CDLL(None, use_errno=True)\n"
           "def call(nr, *args):\n"
           "    ctypes.set_errno(0)\n"
           "    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])\n"
           "    if r == 0 and os.getpid() != 1:\n"
           "        os._exit(0)  # a clone that succeeded: this is the child\n"
           "    return ctypes.get_errno() if r == -1 else 0\n")


@pytest.fixture(scope="module")
def unfiltered_errnos():
    """What each call gives without the filter (bubblewrap's user namespace, no capabilities): a call this kernel
    lacks answers ENOSYS with or without the filter, so its test could not fail here and is skipped."""
    numbers = {name: seccomp.resolve_syscall(seccomp.Arch.NATIVE, name) for name in (*BLOCKED, "clone3")}
    script = SYSCALL.replace("os.getpid() != 1", "os.getpid() != main") + (
        "import json, sys\nmain = os.getpid()\n"
        f"print(json.dumps({{name: call(nr, 0, 0, 0, 0, 0) for name, nr in {numbers!r}.items()}}))\n")
    done = subprocess.run(["bwrap", "--unshare-all", "--unshare-user", "--cap-drop", "ALL", "--ro-bind", "/", "/",
                           "--proc", "/proc", "--dev", "/dev", "--die-with-parent",
                           sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", [*BLOCKED, "clone3"])
def test_the_seccomp_filter_refuses(sandbox, name, unfiltered_errnos):
    if unfiltered_errnos[name] == errno.ENOSYS:
        pytest.skip(f"this kernel has no {name}: ENOSYS with or without the filter")
    nr = seccomp.resolve_syscall(seccomp.Arch.NATIVE, name)
    r = sandbox.execute(SYSCALL + f"call({nr}, 0, 0, 0, 0, 0)", session_id="seccomp")
    assert r.status == "ok", r.output
    assert int(r.output) == errno.ENOSYS, f"{name}: errno {r.output.strip()}"


@pytest.mark.parametrize("flag", ["CLONE_NEWUSER", "CLONE_NEWNET", "CLONE_NEWNS", "CLONE_NEWPID"])
def test_the_seccomp_filter_refuses_clone_into_a_namespace(sandbox, flag):
    nr = seccomp.resolve_syscall(seccomp.Arch.NATIVE, "clone")
    r = sandbox.execute(SYSCALL + f"call({nr}, os.{flag} | 17, 0, 0, 0, 0)", session_id="seccomp")  # 17: SIGCHLD
    assert r.status == "ok", r.output
    assert int(r.output) == errno.ENOSYS


def test_threads_subprocesses_and_asyncio_still_work(sandbox):
    r = sandbox.execute(
        "import asyncio, subprocess, threading\n"
        "t = threading.Thread(target=lambda: None)\nt.start()\nt.join()\n"
        "async def main():\n"
        "    p = await asyncio.create_subprocess_exec('echo', 'hi', stdout=asyncio.subprocess.PIPE)\n"
        "    return (await p.communicate())[0].decode().strip()\n"
        "asyncio.run(main()), subprocess.run(['true']).returncode", session_id="seccomp-ok")
    assert (r.status, r.output) == ("ok", "('hi', 0)\n"), r.output


def test_timeouts_are_checked_and_capped(sandbox_config):
    with Sandbox(config=sandbox_config, max_timeout_s=1, spare_sessions=0, uid_base=UID_BASE + 9000) as sb:
        for bad in (float("nan"), float("inf"), -1, 0):
            with pytest.raises(ValueError, match="positive, finite"):
                sb.execute("1", timeout=bad)
        r = sb.execute("while True:\n    pass", timeout=1e300)
    assert r.status == "timeout" and "within 1 s" in r.output


@pytest.mark.skipif(os.geteuid() != 0, reason="makes a cgroup by hand")
def test_processes_left_by_a_killed_pool_are_killed_by_the_next(sandbox_config):
    """A pool killed before it could clean up (its processes should have died with it, but whatever is left in its
    cgroups) is swept by the next pool on the host."""
    from nemo_math.sandbox.cgroups import _mounts, _own_paths

    v2_mount = _mounts()[0]
    if v2_mount is None:
        pytest.skip("no cgroup v2 here")
    gone = subprocess.Popen(["true"])
    gone.wait()  # the pid of a pool host that is no longer alive
    stale = os.path.normpath(f"{v2_mount}/{_own_paths()['']}/nemo-math-{gone.pid}-0")
    os.makedirs(f"{stale}/s1")
    left = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    with open(f"{stale}/s1/cgroup.procs", "w") as f:
        f.write(str(left.pid))
    with Sandbox(config=sandbox_config, spare_sessions=0, uid_base=UID_BASE + 10000):
        assert left.wait(timeout=60) == -9
    assert not os.path.exists(stale)


def test_killing_its_own_process_group_does_not_take_the_sandbox_down(sandbox, healthy):
    """kill(0) reached the inner bubblewrap (same uid, same process group) and, one time in five, the kernel."""
    sandbox.execute("state = 'kept'", session_id="pgrp")
    for _ in range(15):
        r = sandbox.execute("import os\nos.kill(0, 9)\nstate", session_id="pgrp")
        assert (r.status, r.output) == ("ok", "'kept'\n"), r.output
    healthy("pgrp")


_HOST = """
import sys, threading
from nemo_math.sandbox import Sandbox, pool
started, gate, uid_base = sys.argv[1], sys.argv[2], int(sys.argv[3])
sb = Sandbox(uid_base=uid_base, spare_sessions=0, num_workers=3)
sb.execute("a = 1", session_id="idle")
sb.execute("b = 1", session_id="busy")
busy = "import signal, time\\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\\nwhile True:\\n    time.sleep(1)"
threading.Thread(target=sb.execute, args=(busy, "busy", 600), daemon=True).start()
bwrap_command = pool.bwrap_command

def slow_bwrap(*args):  # bubblewrap slow to start (a loaded host): it has not armed its own --die-with-parent
    return ["sh", "-c", f'echo $$ > {started} && read _ < {gate} && exec "$@"', "sh", *bwrap_command(*args)]

pool.bwrap_command = slow_bwrap
threading.Thread(target=sb.execute, args=("c = 1", "starting"), daemon=True).start()
threading.Event().wait()
"""


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def test_no_process_outlives_a_host_killed_with_sigkill(tmp_path):
    """kill -9 of the host process, with an idle session, one running a cell that ignores its alarm, and one whose
    bubblewrap is still starting: every process of its tree dies (the last one was left running before)."""
    started, gate = tmp_path / "started", tmp_path / "gate"
    os.mkfifo(started)
    os.mkfifo(gate)
    host = subprocess.Popen([sys.executable, "-c", _HOST, str(started), str(gate), str(UID_BASE + 13000)])
    pidfds = {}
    try:
        fifo = os.open(started, os.O_RDONLY | os.O_NONBLOCK)
        try:  # the starting process has written its pid: it waits at the gate, the other sessions are up
            assert readable(fifo, 120), "the host never started its third session"
            stalled = int(os.read(fifo, 64).split()[0])
        finally:
            os.close(fifo)
        tree = set(_descendants(host.pid)) | {stalled}
        pidfds = {pid: os.pidfd_open(pid) for pid in tree}
        assert len(tree) >= 5
        host.kill()
        host.wait()
        left = list(pidfds)
        for pid in list(left):  # each one's exit is an event on its pidfd; the bound only stops a hang
            if readable(pidfds[pid], 60):
                left.remove(pid)
        assert left == [], f"{left} of {sorted(tree)} survived their host ({stalled} was starting)"
    finally:
        host.kill()
        host.wait()
        for pid, fd in pidfds.items():
            try:
                os.kill(pid, 9)  # what survived: ours, from this test
            except ProcessLookupError:
                pass
            os.close(fd)

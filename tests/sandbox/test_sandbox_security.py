"""Each attack must be contained, and the pool (and usually the attacked session) must work afterwards."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from sandbox_helpers import UID_BASE, host_processes
from nemo_math.sandbox import Sandbox

pytestmark = pytest.mark.sandbox
REPO = Path(__file__).resolve().parents[2]
# the names of the processes alive in the sandbox but bubblewrap (killed ones may linger a moment as zombies)
LIVE_PROCESSES = ("import os, time\n"
                  "def live():\n"
                  "    time.sleep(0.2)\n"
                  "    stats = [open(f'/proc/{p}/stat').read() for p in os.listdir('/proc') if p.isdigit()]\n"
                  "    names = (s.split('(')[1].split(')')[0] for s in stats if s.split(') ')[1][0] != 'Z')\n"
                  "    return sorted(name for name in names if name != 'bwrap')\n")


def test_no_network_egress_nor_dns(sandbox, healthy):
    r = sandbox.execute(
        "import socket\n"
        "print(sorted(name for _, name in socket.if_nameindex()))\n"
        "for target in [('1.1.1.1', 53), ('127.0.0.1', 22)]:\n"
        "    try:\n"
        "        socket.create_connection(target, timeout=2)\n"
        "        print('connected', target)\n"
        "    except OSError as e:\n"
        "        print('refused', type(e).__name__)\n"
        "try:\n"
        "    print(socket.getaddrinfo('pypi.org', 443))\n"
        "except OSError as e:\n"
        "    print('dns failed', type(e).__name__)\n", session_id="net")
    assert r.status == "ok", r.output
    assert r.stdout.splitlines() == ["['lo']", "refused OSError", "refused ConnectionRefusedError",
                                     "dns failed gaierror"]
    healthy("net")


def test_host_files_and_secrets_are_invisible(sandbox_config, monkeypatch, healthy):
    monkeypatch.setenv("NEMO_MATH_TEST_SECRET", "hunter2")
    with Sandbox(config=sandbox_config, spare_sessions=0, uid_base=UID_BASE + 1000) as sb:
        r = sb.execute(
            "import os\n"
            f"paths = ['/etc/shadow', '/etc/passwd', {str(REPO / 'nemo_math' / 'records.py')!r}, "
            f"{str(REPO / 'pyproject.toml')!r}, os.path.expanduser('~root/.bashrc'), '/proc/1/environ']\n"
            "for p in paths:\n"
            "    try:\n"
            "        open(p).read(); print('READ', p)\n"
            "    except OSError as e:\n"
            "        print(type(e).__name__)\n"
            "print(sorted(os.environ))\n"
            "print(any('hunter2' in open(f'/proc/{p}/cmdline').read() for p in os.listdir('/proc') if p.isdigit()))\n"
            "print(os.listdir('/etc'), os.path.exists('/work/main/nemo_math'))\n")
    assert r.status == "ok", r.output
    lines = r.stdout.splitlines()
    assert lines[:6] == ["FileNotFoundError"] * 5 + ["PermissionError"]
    assert "NEMO_MATH_TEST_SECRET" not in lines[6] and "hunter2" not in r.output
    assert lines[7] == "False"
    assert lines[8] == "['ld.so.cache'] False"
    healthy()


def test_cannot_write_outside_the_working_dir(sandbox, healthy):
    r = sandbox.execute(
        "import os\n"
        "for p in ['/x', '/usr/x', '/etc/x', '/dev/shm/x', '/sandbox/x', '/proc/x', os.__file__]:\n"
        "    try:\n"
        "        open(p, 'a').write('x'); print('WROTE', p)\n"
        "    except OSError as e:\n"
        "        print(type(e).__name__)\n"
        "open('/tmp/ok.txt', 'w').write('fine')\n"
        "print(open('ok.txt').read(), os.getcwd())\n", session_id="write")
    assert r.status == "ok", r.output
    assert "WROTE" not in r.stdout
    assert r.stdout.splitlines()[-1] == "fine /tmp"
    assert not Path("/x").exists() and not Path("/usr/x").exists()
    healthy("write")


def test_fork_bomb_is_capped_and_cleaned_up(sandbox, healthy):
    sandbox.execute("kept = 'before the bomb'", session_id="fork")
    r = sandbox.execute(
        "import os\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        pass\n", session_id="fork", timeout=2)
    assert r.status == "timeout", r.output
    if os.geteuid() == 0:  # the pool's processes run as uids from UID_BASE: no bomb survivors on the host
        commands = [line.split()[2] for line in host_processes(UID_BASE, UID_BASE + 1000)]
        assert commands and all(c.endswith(("/bwrap", "/python")) for c in commands), commands
    after = sandbox.execute(LIVE_PROCESSES + "kept, live()", session_id="fork")
    assert after.status == "ok" and after.output == "('before the bomb', ['python'])\n"
    healthy("fork")


def test_memory_bomb_raises_memory_error(sandbox, healthy):
    r = sandbox.execute("x = bytearray(8 * 1024**3)", session_id="mem", timeout=30)
    assert r.status == "error" and "MemoryError" in r.output
    r = sandbox.execute("chunks = []\nwhile True:\n    chunks.append(bytearray(64 * 1024**2))", session_id="mem",
                        timeout=30)
    assert r.status == "error" and "MemoryError" in r.output
    healthy("mem")


@pytest.mark.parametrize("code", ["while True:\n    pass", "import time\ntime.sleep(10**6)"])
def test_infinite_loop_and_sleep_time_out_keeping_state(sandbox, code, healthy):
    sandbox.execute("state = 41", session_id="loop")
    r = sandbox.execute(code, session_id="loop", timeout=1)
    assert r.status == "timeout" and not r.restarted
    assert "did not finish within 1 s" in r.output
    assert 1 <= r.elapsed_s < 60  # the 1-s limit, not the 5-s default; the upper bound is generous for a busy machine
    assert sandbox.execute("state + 1", session_id="loop").output == "42\n"
    healthy("loop")


def test_printing_a_gigabyte_is_truncated(sandbox, healthy):
    r = sandbox.execute("import os\ns = 'x' * 2**27\nfor _ in range(8):\n    print(s)\n"
                        "os.write(1, b'y' * 2**20)\nprint('END')", session_id="print")
    assert r.status == "ok" and r.truncated
    assert len(r.output) < 1100 and r.output.endswith("END\n")
    assert f"[... {8 * (2**27 + 1) + 4 - 1000} characters cut ...]" in r.output
    healthy("print")


def test_segfault_restarts_the_session(sandbox, healthy):
    sandbox.execute("lost = 1", session_id="segv")
    r = sandbox.execute("import ctypes\nctypes.string_at(0)", session_id="segv")
    assert (r.status, r.restarted) == ("crashed", True)
    assert "SIGSEGV" in r.output
    after = sandbox.execute("'lost' in globals()", session_id="segv")
    assert (after.status, after.output) == ("ok", "False\n")
    healthy("segv")


def test_subprocesses_run_inside_and_do_not_outlive_the_cell(sandbox, healthy):
    r = sandbox.execute(
        "import subprocess\n"
        "print(subprocess.run(['sh', '-c', 'id -u; ls /'], capture_output=True, text=True).stdout.split())\n"
        "subprocess.Popen(['sleep', '1000'], start_new_session=True)\n"
        "subprocess.Popen(['sh', '-c', 'nohup sleep 1000 &'])\n", session_id="sub")
    assert r.status == "ok", r.output
    # the sandbox's own /: system dirs and the tops of the interpreter's prefixes (the venv's, pyenv's), no more
    listing = set(r.stdout.split("\n")[0].strip("[]").replace("'", "").split(", ")[1:])
    prefixes = {Path(os.path.realpath(p)).parts[1] for p in (sys.prefix, sys.base_prefix)}
    assert prefixes <= listing
    assert listing <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "proc", "sandbox", "sbin", "tmp", "usr",
                       *prefixes}
    left = sandbox.execute(LIVE_PROCESSES + "live()", session_id="sub")
    assert left.output == "['python']\n"  # the kernel alone
    healthy("sub")


def test_ignoring_signals_gets_the_process_killed(sandbox, healthy):
    r = sandbox.execute("import signal\nfor s in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):\n"
                        "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass", session_id="sig", timeout=1)
    assert (r.status, r.restarted) == ("killed", True)
    assert 1 <= r.elapsed_s < 120  # killed at timeout + kill_grace_s, not left running
    healthy("sig")


def test_killing_the_parent_is_contained(sandbox, healthy):
    sandbox.execute("state = 'kept'", session_id="parent")
    r = sandbox.execute(
        "import os, signal\n"
        f"for target in (os.getppid(), 1, os.getpid(), -1, {os.getpid()}):\n"
        "    try:\n"
        "        os.kill(target, signal.SIGKILL); print('sent')\n"
        "    except OSError as e:\n"
        "        print(type(e).__name__)\n"
        "os.getpid(), state", session_id="parent")
    assert r.status == "ok", r.output
    # the kernel is pid 1 of its own namespace: it cannot be killed from inside, and our pid does not exist there
    assert r.stdout.splitlines()[-2:] == ["ProcessLookupError", "(1, 'kept')"]
    r = sandbox.execute("import os\nos._exit(3)", session_id="parent")
    assert (r.status, r.restarted) == ("crashed", True) and "the Python process died" in r.output
    healthy("parent")


def test_filling_the_tmpfs_fails_cleanly(sandbox, healthy):
    r = sandbox.execute(
        "import errno\n"
        "try:\n"
        "    for i in range(1000):\n"
        "        with open(f'/tmp/fill{i}', 'wb') as f:\n"
        "            f.write(b'0' * 2**20)\n"
        "except OSError as e:\n"
        "    print(errno.errorcode[e.errno], i)\n", session_id="fill")
    assert r.status == "ok", r.output
    code, files = r.stdout.split()
    assert code == "ENOSPC" and int(files) < 20
    other = sandbox.execute("open('/tmp/mine', 'w').write('x' * 2**20)", session_id="fill-neighbour")
    assert other.output == f"{2**20}\n"  # each session has its own /tmp
    healthy("fill")


def test_forged_protocol_messages_count_as_a_crash(sandbox, healthy):
    r = sandbox.execute("import os\nfor fd in range(3, 10):\n    try:\n        os.write(fd, b'\\x00\\x00\\x00\\x02{}')\n"
                        "    except OSError:\n        pass\n", session_id="forge")
    assert (r.status, r.restarted) == ("crashed", True)
    assert "protocol" in r.output
    healthy("forge")


def test_no_new_namespaces_nor_privileges(sandbox, healthy):
    r = sandbox.execute(
        "import os\n"
        "for flags in (os.CLONE_NEWUSER, os.CLONE_NEWUSER | os.CLONE_NEWNS, os.CLONE_NEWNET):\n"
        "    try:\n"
        "        os.unshare(flags); print('UNSHARED')\n"
        "    except OSError as e:\n"
        "        print(type(e).__name__)\n"
        "try:\n    os.setuid(0); print('ROOT')\nexcept OSError as e:\n    print(type(e).__name__)\n"
        "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n", session_id="ns")
    assert r.status == "ok", r.output
    assert "UNSHARED" not in r.stdout and "ROOT" not in r.stdout
    assert r.stdout.splitlines()[-1] == "0000000000000000"  # no capabilities
    healthy("ns")

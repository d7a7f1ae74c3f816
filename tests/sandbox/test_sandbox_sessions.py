"""Sessions behave like notebooks: state persists, output is captured and truncated, sessions are separate."""

from __future__ import annotations

import os
import threading
import time

import pytest

from sandbox_helpers import UID_BASE
from nemo_math.sandbox import Sandbox, SandboxUnavailable
from nemo_math.sandbox import isolation

pytestmark = pytest.mark.sandbox


def test_state_persists_and_trailing_expression_is_shown(sandbox):
    assert sandbox.execute("x = 40", session_id="nb").output == ""
    assert sandbox.execute("x += 2", session_id="nb").output == ""
    r = sandbox.execute("print('x is', x)\nx", session_id="nb")
    assert (r.status, r.stdout, r.output) == ("ok", "x is 42\n42\n", "x is 42\n42\n")
    assert sandbox.execute("None", session_id="nb").output == ""
    assert sandbox.execute("def f(n):\n    return n * x\nf(2)", session_id="nb").output == "84\n"


def test_stdout_stderr_and_tracebacks(sandbox):
    r = sandbox.execute("import sys\nprint('out')\nprint('err', file=sys.stderr)\nprint('out2')", session_id="io")
    assert (r.stdout, r.stderr, r.output) == ("out\nout2\n", "err\n", "out\nerr\nout2\n")
    r = sandbox.execute("def g():\n    return 1 / 0\nprint('before')\ng()", session_id="io")
    assert r.status == "error" and r.stdout == "before\n"
    assert r.stderr.startswith("Traceback (most recent call last):\n  File \"<cell-2>\", line 4, in <module>")
    assert "return 1 / 0" in r.stderr and r.stderr.endswith("ZeroDivisionError: division by zero\n")
    assert "kernel.py" not in r.stderr
    r = sandbox.execute("def broken(:", session_id="io")
    assert r.status == "error" and r.output.startswith('  File "<cell-3>", line 1') and "SyntaxError" in r.output
    r = sandbox.execute("raise SystemExit(3)", session_id="io")
    assert r.status == "error" and "SystemExit: 3" in r.output
    assert sandbox.execute("try:\n    raise ValueError\nexcept Exception:\n    pass\n'caught'",
                           session_id="io").output == "'caught'\n"


def test_output_is_cut_in_the_middle_with_a_marker(sandbox):
    r = sandbox.execute("print('a' * 600 + 'b' * 600)", session_id="cut")
    assert r.truncated
    assert r.output == "a" * 500 + "\n[... 201 characters cut ...]\n" + "b" * 499 + "\n"
    r = sandbox.execute("print('c' * 998)", session_id="cut")
    assert not r.truncated and r.output == "c" * 998 + "\n"


def test_output_limit_and_preload_options(sandbox_config):
    with Sandbox(config=sandbox_config, max_output_chars=10, preload=["fractions"], spare_sessions=1,
                 uid_base=UID_BASE + 2000) as sb:
        r = sb.execute("print('0123456789' * 3)")
        preloaded = sb.execute("import sys\n'fractions' in sys.modules")
        not_loaded = sb.execute("'csv' in sys.modules")
    assert r.truncated and r.output == "01234\n[... 21 characters cut ...]\n6789\n"
    assert (preloaded.output, not_loaded.output) == ("True\n", "False\n")


def test_sessions_are_isolated_and_closing_resets(sandbox):
    sandbox.execute("secret = 'A'\nopen('/tmp/a.txt', 'w').write('A')", session_id="A")
    r = sandbox.execute("import os\n('secret' in globals(), os.path.exists('/tmp/a.txt'))", session_id="B")
    assert r.output == "(False, False)\n"
    assert "A" in sandbox.sessions() and "B" in sandbox.sessions()
    sandbox.close_session("A")
    assert "A" not in sandbox.sessions()
    assert sandbox.execute("'secret' in globals()", session_id="A").output == "False\n"
    sandbox.close_session("never-used")


def test_many_threads_many_sessions(sandbox):
    errors: list[str] = []

    def worker(n: int) -> None:
        sid = f"thread-{n}"
        sandbox.execute("total = 0", session_id=sid)
        for i in range(15):
            sandbox.execute(f"total += {i}", session_id=sid)
        r = sandbox.execute("total", session_id=sid)
        if r.output != f"{sum(range(15))}\n":
            errors.append(f"{sid}: {r.output!r}")
        sandbox.close_session(sid)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.slow
def test_scientific_stack_imports(sandbox):
    r = sandbox.execute("import numpy as np, sympy as sp, scipy.special, mpmath\n"
                        "x = sp.symbols('x')\n"
                        "(int(np.arange(5).sum()), str(sp.factor(x**2 - 1)), round(float(scipy.special.gamma(5))),"
                        " str(mpmath.mpf(1) / 4))", session_id="sci", timeout=60)
    assert r.output == "(10, '(x - 1)*(x + 1)', 24, '0.25')\n", r.output


def test_idle_sessions_are_reaped_and_lru_evicted(sandbox_config):
    with Sandbox(config=sandbox_config, idle_timeout_s=0.4, max_sessions=2, spare_sessions=1,
                 uid_base=UID_BASE + 3000) as sb:
        for sid in ("one", "two", "three"):
            sb.execute("1", session_id=sid)
        assert sb.sessions() == ["two", "three"]
        deadline = time.monotonic() + 120  # a bound for a busy machine, not an expectation
        while sb.sessions() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sb.sessions() == []


def test_user_namespace_mode(sandbox_config):
    with Sandbox(config=sandbox_config, isolation="userns", spare_sessions=0) as sb:
        r = sb.execute("import os, socket\n(os.getuid(), [n for _, n in socket.if_nameindex()])")
    assert r.output == "(65534, ['lo'])\n"


def test_clear_errors_when_the_sandbox_cannot_run(sandbox_config, tmp_path, monkeypatch):
    with pytest.raises(SandboxUnavailable, match="does not exist|cannot run"):
        Sandbox(config=sandbox_config, python=str(tmp_path / "no-python"))
    with pytest.raises(SandboxUnavailable, match="(?s)did not start.*No module named 'no_such_module'"):
        Sandbox(config=sandbox_config, preload=["no_such_module"], spare_sessions=0)
    monkeypatch.setitem(isolation.HOST_ENV, "PATH", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        Sandbox(config=sandbox_config)


def test_notebook_conveniences(sandbox):
    sandbox.execute("open('helper.py', 'w').write('def double(n):\\n    return 2 * n\\n')", session_id="conv")
    assert sandbox.execute("import helper\nhelper.double(21)", session_id="conv").output == "42\n"
    assert sandbox.execute("import sys\nsys.stdout.encoding, input.__name__", session_id="conv").output \
        == "('utf-8', 'input')\n"
    assert "EOFError" in sandbox.execute("input()", session_id="conv").output
    r = sandbox.execute("print('caf\\u00e9 \\ud800 \\U0001f600')", session_id="conv")
    assert r.output == "caf\u00e9 \ufffd\ufffd\ufffd \U0001f600\n"  # a lone surrogate cannot be stored as UTF-8


def test_cells_run_in_a_host_holding_over_a_thousand_fds(sandbox_config):
    """select() refuses fds past 1023; a long-lived host (this test session, a server) can hold that many."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2048:
        pytest.skip(f"the hard fd limit {hard} is below 2048")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2048), hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with Sandbox(config=sandbox_config) as sb:
            r = sb.execute("6 * 7", session_id="many-fds")
        assert (r.status, r.output) == ("ok", "42\n")
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

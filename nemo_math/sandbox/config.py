"""Config of the Python sandbox used for tool-integrated reasoning."""

from dataclasses import dataclass, field


@dataclass
class SandboxConfig:
    url: str | None = None  # a `nemo-math sandbox serve` URL; None runs an in-process pool
    num_workers: int = 2  # cells that run at once (others wait); about one per spare CPU core
    timeout_s: float = 10.0  # default wall-clock limit of one cell
    max_timeout_s: float = 600.0  # a longer timeout asked for is cut to this
    max_output_chars: int = 1000  # output fed back to the model; the paper's setting
    # sessions: one sandboxed process per session id, started lazily, kept until closed or idle this long
    max_sessions: int = 256  # live processes; beyond it the least recently used idle session is closed
    idle_timeout_s: float = 900.0
    spare_sessions: int = 2  # processes started ahead of time so a new session starts warm
    preload: list[str] = field(default_factory=list)  # modules spare processes import ahead, e.g. [sympy]
    startup_timeout_s: float = 30.0
    kill_grace_s: float = 1.0  # after a cell's timeout, how long it may ignore the interrupt before a kill
    # limits of each sandboxed process (rlimits) and of its private /tmp
    memory_mb: int = 4096  # address space of each process
    file_size_mb: int = 32
    tmpfs_mb: int = 64
    tmpfs_inodes: int = 16384  # files in /tmp (as root; bubblewrap cannot set it otherwise)
    max_open_files: int = 128
    max_processes: int = 32
    # budgets of a whole session (all its processes, threads and files), from cgroups where the host allows it
    # (see cgroups.py; what is not enforced is logged when the pool starts). The session is frozen between cells
    session_memory_mb: int = 4096  # memory.max: processes, page cache and /tmp files together
    session_cpus: float = 1.0  # cpu.max: CPUs the session may use at once, whatever threads it starts
    # isolation: "auto" runs each process as its own unprivileged uid when root (so process limits apply), and
    # in a user namespace otherwise; "userns" forces the user namespace (as root, without the process limit)
    isolation: str = "auto"
    # as root: processes run as uids from uid_base up (max_sessions + spare_sessions + num_workers + 16 of them);
    # give pools sharing a node distinct ranges so that each process's limits stay its own
    uid_base: int = 200000
    python: str | None = None  # interpreter run inside; None = this one (numpy, sympy, scipy, mpmath importable)
    extra_ro_binds: list[str] = field(default_factory=list)  # more host paths visible read-only inside
    # server (`nemo-math sandbox serve`) and its client
    host: str = "127.0.0.1"
    port: int = 8790
    # shared secret of server and clients: a file holding it (or the NEMO_MATH_SANDBOX_TOKEN variable); required
    # by the server unless it listens on loopback only; each token sees its own sessions only
    token_file: str | None = None
    header_timeout_s: float = 10.0  # server: a connection not sending a request's headers within this is dropped
    body_timeout_s: float = 10.0  # server: a request body not received within this is answered 408
    request_timeout_s: float = 60.0  # HTTP client: added to the cell timeout

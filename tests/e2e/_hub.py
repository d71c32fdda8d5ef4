"""The modelhub server process as the tests see it: start/stop, admin CLI, log access."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary() -> Path:
    p = Path(os.environ.get("MODELHUB_BIN", REPO_ROOT / "build" / "bin" / "modelhub"))
    return p


@dataclass
class User:
    name: str
    token: str


@dataclass
class Hub:
    endpoint: str
    port: int
    data_dir: Path
    binary: Path
    log_path: Path
    tmp: Path
    proc: subprocess.Popen | None = None
    extra_args: tuple[str, ...] = ()
    users: dict[str, User] = field(default_factory=dict)
    org: str = "acme"

    # -- admin CLI -----------------------------------------------------------------------------
    def admin_run(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        cmd = [str(self.binary), "admin", "--data", str(self.data_dir), *args]
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if check and cp.returncode != 0:
            raise RuntimeError(f"admin command failed ({cp.returncode}): {' '.join(cmd)}\n"
                               f"stdout: {cp.stdout}\nstderr: {cp.stderr}")
        return cp

    def admin(self, *args: str) -> str:
        """Runs `modelhub admin --data DIR ARGS…`, returns stripped stdout, raises on failure."""
        return self.admin_run(*args, check=True).stdout.strip()

    def create_user(self, name: str, admin: bool = False) -> None:
        self.admin("user", "create", name, *(["--admin"] if admin else []))

    def create_token(self, user: str, role: str = "write", name: str | None = None) -> str:
        name = name or f"{role}-{uuid.uuid4().hex[:8]}"
        out = self.admin("token", "create", user, "--role", role, "--name", name)
        token = out.splitlines()[-1].strip() if out else ""
        assert token and " " not in token, f"`token create` printed no token: {out!r}"
        return token

    # -- helpers -------------------------------------------------------------------------------
    def token(self, user: str) -> str:
        return self.users[user].token

    def auth(self, user: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {self.users[user].token}"} if user else {}

    @staticmethod
    def unique(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    def repo_id(self, prefix: str, owner: str = "alice") -> str:
        return f"{owner}/{self.unique(prefix)}"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    # -- process -------------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> None:
        import requests

        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        cmd = [str(self.binary), "serve", "--data", str(self.data_dir),
               "--listen", f"127.0.0.1:{self.port}", "--public-url", self.endpoint, *self.extra_args]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.tmp)
        log.close()
        deadline = time.monotonic() + timeout
        last_err = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"modelhub serve exited with {self.proc.returncode} before /health "
                                   f"answered.\ncommand: {' '.join(cmd)}\n--- server log ---\n{self.log_tail()}")
            try:
                # The process itself (its public URL may be a proxy in front of several).
                r = requests.get(f"http://127.0.0.1:{self.port}/health", timeout=2)
                if r.status_code == 200:
                    return
                last_err = f"HTTP {r.status_code}: {r.text[:200]}"
            except requests.RequestException as e:  # not listening yet
                last_err = repr(e)
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"modelhub serve did not answer /health within {timeout:.0f}s "
                           f"(last: {last_err}).\ncommand: {' '.join(cmd)}\n--- server log ---\n{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait, SIGKILL if it does not stop. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


def serve_help() -> str:
    """`modelhub serve --help` text ('' if it fails), to see which options this build has."""
    try:
        cp = subprocess.run([str(_binary()), "serve", "--help"], capture_output=True, text=True, timeout=30)
        return cp.stdout + cp.stderr
    except (OSError, subprocess.SubprocessError):
        return ""


# ---- scale-out backends -------------------------------------------------------------------------
# MODELHUB_E2E_BACKEND=postgres: every hub the tests start keeps its metadata in a database of its own
# on one PostgreSQL server started for the session (scripts/pg-test-server.sh, loopback, run-time port).
BACKEND = os.environ.get("MODELHUB_E2E_BACKEND", "embedded")
_PG: dict[str, str] = {}


def _pg_server_url() -> str:
    if "url" not in _PG:
        d = tempfile.mkdtemp(prefix="modelhub-e2e-pg-")
        cp = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "pg-test-server.sh"), "start", d, str(os.getpid())],
                            capture_output=True, text=True, timeout=120)
        if cp.returncode != 0:
            raise RuntimeError(f"could not start PostgreSQL for MODELHUB_E2E_BACKEND=postgres (exit {cp.returncode}):"
                               f"\n{cp.stderr[-2000:]}")
        _PG.update(dir=d, url=cp.stdout.strip().splitlines()[-1])
    return _PG["url"]


def new_database() -> str:
    """URL of a fresh, empty database on the session's PostgreSQL server."""
    base = _pg_server_url()
    name = "hub_" + uuid.uuid4().hex[:12]
    cp = subprocess.run(["psql", base, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}"],
                        capture_output=True, text=True, timeout=60)
    if cp.returncode != 0:
        raise RuntimeError(f"CREATE DATABASE failed: {cp.stderr}")
    return base.rsplit("/", 1)[0] + "/" + name


def stop_backends() -> None:
    if "dir" in _PG:
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "pg-test-server.sh"), "stop", _PG["dir"]],
                       capture_output=True, timeout=60)
        _PG.clear()


def backend_args() -> tuple[str, ...]:
    if BACKEND == "embedded":
        return ()
    if BACKEND == "postgres":
        return ("--metadata-url", new_database())
    raise RuntimeError(f"MODELHUB_E2E_BACKEND={BACKEND!r}: expected embedded or postgres")


def start_hub(tmp: Path, port: int | None = None, extra_args: tuple[str, ...] = ()) -> Hub:
    """Starts one more server (own port, data folder and, with MODELHUB_E2E_BACKEND, own database);
    the caller stops it."""
    binary = _binary()
    if not binary.exists():
        raise RuntimeError(f"modelhub binary not found at {binary}: run scripts/build.sh "
                           f"(or set MODELHUB_BIN)")
    port = port or free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    hub = Hub(endpoint=f"http://127.0.0.1:{port}", port=port, data_dir=tmp / "data", binary=binary,
              log_path=tmp / "server.log", tmp=tmp, extra_args=tuple(extra_args))
    if not (hub.data_dir / "storage.conf").exists():  # a restarted folder already names its stores
        hub.extra_args += backend_args()
    hub.start()
    return hub

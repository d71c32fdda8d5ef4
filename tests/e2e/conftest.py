"""Black-box test harness: starts the real modelhub binary and drives it with the real clients.

One server per pytest session, on a free 127.0.0.1 port, with a fresh data folder. The client
environment (HF_ENDPOINT and friends) is set here at import time, before any test module imports
huggingface_hub, because huggingface_hub reads HF_ENDPOINT when it is imported.

Fixtures:
  hub    the running server: endpoint, data dir, users' tokens, admin() helper, repo_id() helper
  api    HfApi for alice (write token), bob_api for bob, anon_api without a token

Environment knobs:
  MODELHUB_BIN          path of the modelhub binary (default: build/bin/modelhub)
  MODELHUB_E2E_LARGE_MB size of the largest upload in test_files.py (default 500)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- client environment, fixed before huggingface_hub is imported anywhere --------------------------
PORT = _free_port()
ENDPOINT = f"http://127.0.0.1:{PORT}"
_TMP_ROOT = Path(tempfile.mkdtemp(prefix="modelhub-e2e-"))
HF_HOME = _TMP_ROOT / "hf_home"

CLIENT_ENV = {
    "HF_ENDPOINT": ENDPOINT,
    "HF_HUB_DISABLE_XET": "1",  # no Xet CAS yet: LFS batch uploads and plain HTTP downloads
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_EXPERIMENTAL_WARNING": "1",
    "HF_HOME": str(HF_HOME),
    "HF_HUB_CACHE": str(HF_HOME / "hub"),
    "HF_DATASETS_CACHE": str(HF_HOME / "datasets"),
    "HF_UPDATE_DOWNLOAD_COUNTS": "0",
    "HF_HUB_ETAG_TIMEOUT": "60",
    "HF_HUB_DOWNLOAD_TIMEOUT": "120",
    "HF_HUB_OFFLINE": "0",
    "HF_DATASETS_OFFLINE": "0",
    "TRANSFORMERS_OFFLINE": "0",
    "TOKENIZERS_PARALLELISM": "false",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
os.environ.update(CLIENT_ENV)
# Never let a developer's own credentials or proxies leak into the tests.
for _var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HTTP_PROXY", "HTTPS_PROXY",
             "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)


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
               "--listen", f"127.0.0.1:{self.port}", "--public-url", self.endpoint]
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
                r = requests.get(f"{self.endpoint}/health", timeout=2)
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


def start_hub(tmp: Path, port: int | None = None) -> Hub:
    binary = _binary()
    if not binary.exists():
        raise RuntimeError(f"modelhub binary not found at {binary}: run scripts/build.sh "
                           f"(or set MODELHUB_BIN)")
    port = port or _free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    hub = Hub(endpoint=f"http://127.0.0.1:{port}", port=port, data_dir=tmp / "data", binary=binary,
              log_path=tmp / "server.log", tmp=tmp)
    hub.start()
    return hub


@pytest.fixture(scope="session")
def hub():
    tmp = _TMP_ROOT / "server"
    try:
        h = start_hub(tmp, PORT)
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    _HUB_FOR_REPORTS.append(h)
    try:
        h.create_user("alice", admin=True)
        h.users["alice"] = User("alice", h.create_token("alice", "write", "alice-write"))
        h.create_user("bob")
        h.users["bob"] = User("bob", h.create_token("bob", "write", "bob-write"))
        h.admin("org", "create", h.org, "--owner", "alice")
    except Exception as e:
        h.stop()
        pytest.fail(f"setting up users/tokens/org with the admin CLI failed: {e}\n--- server log ---\n"
                    f"{h.log_tail()}", pytrace=False)
    yield h
    _HUB_FOR_REPORTS.remove(h)
    h.stop()


@pytest.fixture(scope="session")
def endpoint(hub) -> str:
    return hub.endpoint


@pytest.fixture(scope="session")
def api(hub):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.endpoint, token=hub.token("alice"))


@pytest.fixture(scope="session")
def bob_api(hub):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.endpoint, token=hub.token("bob"))


@pytest.fixture(scope="session")
def anon_api(hub):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.endpoint, token=False)


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """A private HF cache for one test, so downloads really hit the server."""
    cache = tmp_path / "hf_cache"
    cache.mkdir()
    return cache


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_TMP_ROOT, ignore_errors=True)


# ---- attach the server log lines written during a failed test to its report ------------------------
_HUB_FOR_REPORTS: list[Hub] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    offsets = [(h, h.log_path.stat().st_size if h.log_path.exists() else 0) for h in _HUB_FOR_REPORTS]
    item._modelhub_log_offsets = offsets
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for h, off in getattr(item, "_modelhub_log_offsets", []):
        try:
            with open(h.log_path, "rb") as f:
                f.seek(off)
                text = f.read().decode(errors="replace")
        except OSError:
            continue
        lines = text.splitlines()
        if len(lines) > 80:
            lines = [f"... ({len(lines) - 80} earlier lines)"] + lines[-80:]
        report.sections.append(("modelhub server log during this test", "\n".join(lines)))

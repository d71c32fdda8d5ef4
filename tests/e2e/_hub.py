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

    # -- the blob store, read and altered from outside the server (measurements, fault injection) --
    @property
    def blob_url(self) -> str:
        """The hub's blob store: --blob-url if it was given, else what DATA/storage.conf records,
        else the default DATA/blobs."""
        args = list(self.extra_args)
        if "--blob-url" in args:
            return args[args.index("--blob-url") + 1]
        conf = self.data_dir / "storage.conf"
        if conf.exists():
            for line in conf.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "blobs" and value.strip():
                    return value.strip()
        return f"file://{self.data_dir / 'blobs'}"

    @property
    def blobs(self) -> "BlobView":
        return BlobView.open(self.blob_url)

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


# MODELHUB_E2E_BACKEND=s3 (or postgres+s3): every hub keeps its blobs under a prefix of its own in one
# bucket of one MinIO started for the session (scripts/s3-test-server.sh, loopback, run-time port). The
# AWS_* credentials go into this process's environment, so every server and admin command inherits them.
_S3: dict[str, str] = {}
S3_BUCKET = "modelhub-e2e"


def _s3_script(action: str, state_dir: Path) -> subprocess.CompletedProcess:
    """scripts/s3-test-server.sh ACTION DIR; the server dies with this process."""
    env = dict(os.environ, MODELHUB_S3_OWNER_PID=str(os.getpid()))
    return subprocess.run(["bash", str(REPO_ROOT / "scripts" / "s3-test-server.sh"), action, str(state_dir)],
                          capture_output=True, text=True, timeout=120, env=env)


def start_s3_server(state_dir: Path) -> str:
    """Starts a MinIO in state_dir (removed with it when this process exits), puts its credentials
    into this process's environment (every server and admin command started later inherits them) and
    returns its endpoint. Raises with MinIO's reason when it cannot start."""
    cp = _s3_script("start", state_dir)
    if cp.returncode != 0:
        raise RuntimeError(f"could not start MinIO (scripts/s3-test-server.sh exit {cp.returncode}; 3 = not "
                           f"built, run scripts/install-deps.sh):\n{cp.stderr[-2000:]}")
    out = dict(line.split("=", 1) for line in cp.stdout.splitlines() if "=" in line)
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        os.environ[k] = out[k].strip()
    return out["MODELHUB_S3_ENDPOINT"].strip()


def s3_server_control(state_dir: Path, action: str) -> None:
    """stop | kill | restart | start (again) the MinIO in state_dir."""
    cp = _s3_script(action, state_dir)
    if cp.returncode != 0:
        raise RuntimeError(f"s3-test-server.sh {action} failed ({cp.returncode}): {cp.stderr[-2000:]}")


def _s3_session() -> dict[str, str]:
    if "endpoint" not in _S3:
        d = Path(tempfile.mkdtemp(prefix="modelhub-e2e-s3-"))
        _S3.update(dir=str(d), endpoint=start_s3_server(d / "minio"))
        s3_client(_S3["endpoint"]).create_bucket(Bucket=S3_BUCKET)
    return _S3


def new_bucket_prefix() -> str:
    """--blob-url of a fresh, empty prefix in the session's bucket."""
    s = _s3_session()
    return f"s3://{S3_BUCKET}/hub-{uuid.uuid4().hex[:12]}?endpoint={s['endpoint']}"


def s3_client(endpoint: str):
    """boto3 (an independent S3 client, not our own) for looking at and altering what the server stored."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"),
                        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))


class BlobView:
    """A hub's blob store seen from outside: keys (as the server names them, e.g. xorbs/ab/…) and
    sizes, read and overwrite. file:// folders and s3://bucket/prefix?endpoint=… URLs."""

    def __init__(self, root: Path | None = None, client=None, bucket: str = "", prefix: str = ""):
        self.root, self.client, self.bucket, self.prefix = root, client, bucket, prefix

    @staticmethod
    def open(url: str) -> "BlobView":
        from urllib.parse import parse_qs, urlsplit

        if url.startswith("file://"):
            return BlobView(root=Path(url[len("file://"):]))
        if url.startswith("s3://"):
            u = urlsplit(url)
            endpoint = parse_qs(u.query)["endpoint"][0]
            prefix = u.path.strip("/")
            return BlobView(client=s3_client(endpoint), bucket=u.netloc, prefix=prefix + "/" if prefix else "")
        return BlobView(root=Path(url))

    @property
    def is_s3(self) -> bool:
        return self.client is not None

    def objects(self, under: str = "xorbs/") -> dict[str, int]:
        """key -> size of every object whose key starts with `under`."""
        out: dict[str, int] = {}
        if self.root is not None:
            base = self.root / under
            if base.exists():
                for dirpath, _, names in os.walk(base):
                    for n in names:
                        p = os.path.join(dirpath, n)
                        try:
                            out[os.path.relpath(p, self.root)] = os.stat(p).st_size
                        except FileNotFoundError:  # collected while we walked
                            pass
            return out
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                            Prefix=self.prefix + under):
            for o in page.get("Contents", []):
                out[o["Key"][len(self.prefix):]] = o["Size"]
        return out

    def total(self, under: str = "xorbs/") -> int:
        return sum(self.objects(under).values())

    def read(self, key: str) -> bytes:
        if self.root is not None:
            return (self.root / key).read_bytes()
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()

    def write(self, key: str, data: bytes) -> None:
        """Overwrites an object in place (fault injection: the server did not write this)."""
        if self.root is not None:
            with open(self.root / key, "r+b") as f:
                f.write(data)
                f.truncate()
            return
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def flip_byte(self, key: str, offset: int, mask: int = 0x40) -> bytes:
        """XORs one byte of an object; returns the original content (to restore with write)."""
        orig = self.read(key)
        raw = bytearray(orig)
        raw[offset] ^= mask
        self.write(key, bytes(raw))
        return orig

    def incomplete_multipart_uploads(self) -> list[str]:
        """Keys of multipart uploads begun under this prefix and neither completed nor aborted (S3 only)."""
        if self.root is not None:
            return []
        # The whole bucket, filtered here: MinIO lists uploads for a Prefix only when it is a whole key.
        r = self.client.list_multipart_uploads(Bucket=self.bucket)
        return [u["Key"][len(self.prefix):] for u in r.get("Uploads", []) if u["Key"].startswith(self.prefix)]


def stop_backends() -> None:
    if "dir" in _PG:
        subprocess.run(["bash", str(REPO_ROOT / "scripts" / "pg-test-server.sh"), "stop", _PG["dir"]],
                       capture_output=True, timeout=60)
        _PG.clear()
    if "dir" in _S3:
        _s3_script("stop", Path(_S3["dir"]) / "minio")
        import shutil

        shutil.rmtree(_S3["dir"], ignore_errors=True)
        _S3.clear()


def backend_args() -> tuple[str, ...]:
    parts = set(BACKEND.split("+"))
    if not parts <= {"embedded", "postgres", "s3"}:
        raise RuntimeError(f"MODELHUB_E2E_BACKEND={BACKEND!r}: expected embedded, postgres, s3 or postgres+s3")
    args: tuple[str, ...] = ()
    if "postgres" in parts:
        args += ("--metadata-url", new_database())
    if "s3" in parts:
        args += ("--blob-url", new_bucket_prefix())
    return args


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

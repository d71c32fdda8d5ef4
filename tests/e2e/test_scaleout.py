"""Scale-out (docs/deploy.md): two `modelhub serve` processes on one data folder (git repositories,
secret key) with the metadata in PostgreSQL and the blobs on S3 (MinIO), behind nginx round-robin. Any request may reach
either process: Xet tokens, signed URLs and upload sessions issued by one are honoured by the other,
and no acknowledged commit is ever lost. Faults: one process killed with SIGKILL mid-upload (the other
serves, fsck stays clean); PostgreSQL restarted (clear retryable errors during the outage, recovery after);
the S3 server restarted mid-upload (the client's retry completes, no half-written object is visible).

Knobs: MODELHUB_E2E_SCALEOUT_SECONDS  length of the commit storm (default 60).
PostgreSQL comes from scripts/pg-test-server.sh (installed by scripts/install-deps.sh), MinIO from
scripts/s3-test-server.sh (built by scripts/install-minio.sh); nginx from Debian's nginx-light.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from huggingface_hub import CommitOperationAdd, HfApi

import _hub
from _hub import Hub, free_port
from _util import sha256_bytes

SECONDS = float(os.environ.get("MODELHUB_E2E_SCALEOUT_SECONDS", "60"))
RESULTS = Path(__file__).parent / ".results" / "scaleout.txt"


def report(line: str) -> None:
    print(line)
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(line + "\n")


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 512; }}
http {{
  access_log {dir}/access.log;
  client_body_temp_path {dir}/body;
  proxy_temp_path {dir}/proxy;
  client_max_body_size 0;
  proxy_request_buffering off;
  proxy_buffering off;
  proxy_http_version 1.1;
  upstream modelhub {{
    server 127.0.0.1:{a} max_fails=0;
    server 127.0.0.1:{b} max_fails=0;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://modelhub;
      proxy_set_header Host $http_host;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout;
      proxy_read_timeout 600s;
    }}
  }}
}}
"""


class Cluster:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.data = tmp / "data"
        self.db = _hub.new_database()
        self.blob_url = _hub.new_bucket_prefix()  # the object store the two processes share (MinIO)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        binary = _hub._binary()
        self.nodes = []
        for name in ("a", "b"):
            p = free_port()
            (tmp / name).mkdir(parents=True, exist_ok=True)
            self.nodes.append(Hub(endpoint=self.endpoint, port=p, data_dir=self.data, binary=binary,
                                  log_path=tmp / name / "server.log", tmp=tmp / name,
                                  extra_args=("--metadata-url", self.db, "--blob-url", self.blob_url,
                                              # behind nginx every connection is the proxy's (docs/deploy.md)
                                              "--max-client-connections", "0")))
        self.nginx = None

    def start(self) -> None:
        for n in self.nodes:
            n.start()
        d = self.tmp / "nginx"
        d.mkdir(exist_ok=True)
        (d / "nginx.conf").write_text(NGINX_CONF.format(dir=d, a=self.nodes[0].port, b=self.nodes[1].port,
                                                         port=self.port))
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.nginx = subprocess.Popen([nginx, "-c", str(d / "nginx.conf"), "-p", str(d)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.endpoint}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"nginx did not come up: {self.nginx.stderr.read().decode() if self.nginx else ''}")

    def stop(self) -> None:
        if self.nginx:
            self.nginx.terminate()
            self.nginx.wait(timeout=10)
        for n in self.nodes:
            n.stop()

    def served_by(self) -> dict[str, int]:
        """Requests each node logged (proof that both took traffic)."""
        out = {}
        for n in self.nodes:
            out[n.log_path.parent.name] = sum(1 for ln in n.log_text().splitlines() if '" 2' in ln)
        return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("scaleout"))
    try:
        c.start()
        n = c.nodes[0]
        n.create_user("sam", admin=True)
        token = n.create_token("sam", "write", "sam")
        yield c, token
    finally:
        c.stop()


def test_eight_clients_one_branch_no_commit_lost(cluster):
    c, token = cluster
    api = HfApi(endpoint=c.endpoint, token=token)
    api.create_repo("sam/storm")
    acked: list[tuple[str, str, str]] = []  # (commit oid, path, sha256)
    failures: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + SECONDS

    def writer(i: int) -> None:
        n = 0
        while time.monotonic() < deadline:
            n += 1
            path = f"w{i}/{n}.txt"
            data = f"writer {i} commit {n} {time.time_ns()}\n".encode()
            ops = [CommitOperationAdd(path, data)]
            if i == 0 and n % 5 == 1:  # some commits carry an LFS file (through Xet, token from either node)
                big = os.urandom(300_000)
                ops.append(CommitOperationAdd(f"w{i}/{n}.bin", big))
            try:
                info = api.create_commit("sam/storm", ops, commit_message=f"w{i} #{n}")
            except Exception as e:  # noqa: BLE001 - an unacknowledged commit may fail; reported below
                with lock:
                    failures.append(f"{path}: {type(e).__name__}: {str(e)[:200]}")
                continue
            with lock:
                acked.append((info.oid, path, sha256_bytes(data)))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=SECONDS + 600)
    served = c.served_by()
    report(f"scale-out: 8 clients x {SECONDS:.0f} s on one branch through 2 processes: {len(acked)} commits "
           f"acknowledged, {len(failures)} refused; requests served per process {served}")
    assert acked, failures[:5]
    assert min(served.values()) > 0, served
    # Every acknowledged commit is in the history, and every file it added is there.
    history = {x.commit_id for x in api.list_repo_commits("sam/storm")}
    missing = [oid for oid, _, _ in acked if oid not in history]
    assert not missing, f"{len(missing)} acknowledged commits are not in the history: {missing[:5]}"
    files = set(api.list_repo_files("sam/storm"))
    lost = [p for _, p, _ in acked if p not in files]
    assert not lost, f"{len(lost)} acknowledged files are missing: {lost[:5]}"
    # Refusals, if any, were clean HTTP answers (the server gave up retrying a contended ref), not crashes.
    for f in failures:
        assert "Connection" not in f.split(":")[1], failures[:5]
    fsck = c.nodes[0].admin_run("fsck")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    repo_dir = next((c.data / "repos").glob("*.git"))
    g = subprocess.run(["git", "--git-dir", str(repo_dir), "fsck", "--strict"], capture_output=True, text=True)
    assert g.returncode == 0, g.stderr


def test_tokens_and_urls_from_one_process_work_on_the_other(cluster):
    c, token = cluster
    a, b = (f"http://127.0.0.1:{n.port}" for n in c.nodes)
    h = {"Authorization": f"Bearer {token}"}
    api_a = HfApi(endpoint=a, token=token)
    api_a.create_repo("sam/cross")
    data = os.urandom(2 << 20)
    api_a.upload_file(path_or_fileobj=data, path_in_repo="x.bin", repo_id="sam/cross")
    # A Xet token from A reads a reconstruction on B; its signed range URL (issued by B) works on A.
    xet_hash = requests.head(f"{a}/sam/cross/resolve/main/x.bin", headers=h, timeout=30).headers["X-Xet-Hash"]
    tok = requests.get(f"{a}/api/models/sam/cross/xet-read-token/main", headers=h, timeout=30).json()
    rec = requests.get(f"{b}/api/cas/v1/reconstructions/{xet_hash}",
                       headers={"Authorization": f"Bearer {tok['accessToken']}"}, timeout=30)
    assert rec.status_code == 200, rec.text
    fetch = next(iter(rec.json()["fetch_info"].values()))[0]
    url = fetch["url"].replace(c.endpoint, a)
    got = requests.get(url, headers={"Range": f"bytes={fetch['url_range']['start']}-{fetch['url_range']['end']}"},
                       timeout=30)
    assert got.status_code == 206, got.text
    # An LFS multipart upload session opened on A, parts and completion sent to B.
    oid = sha256_bytes(data + b"!")
    body = data + b"!"
    batch = requests.post(f"{a}/sam/cross.git/info/lfs/objects/batch", headers={**h, "Accept": "application/vnd.git-lfs+json"},
                          json={"operation": "upload", "transfers": ["basic", "multipart"],
                                "objects": [{"oid": oid, "size": len(body)}]}, timeout=30).json()
    action = batch["objects"][0]["actions"]["upload"]
    href = action["href"].replace(c.endpoint, b)
    if "chunk_size" in action.get("header", {}):
        size = int(action["header"]["chunk_size"])
        parts = []
        for k in range(1, (len(body) + size - 1) // size + 1):
            part_url = action["header"][str(k)].replace(c.endpoint, b if k % 2 else a)
            r = requests.put(part_url, data=body[(k - 1) * size:k * size], timeout=60)
            assert r.ok, r.text
            parts.append({"partNumber": k, "etag": r.headers["ETag"]})
        r = requests.post(href, json={"oid": oid, "parts": parts}, timeout=60)
    else:
        r = requests.put(href, data=body, timeout=60)
    assert r.ok, r.text
    # The object uploaded through both processes is committed through B and reads back through A.
    api_b = HfApi(endpoint=b, token=token)
    commit = [json.dumps({"key": "header", "value": {"summary": "lfs via two nodes"}}),
              json.dumps({"key": "lfsFile", "value": {"path": "y.bin", "algo": "sha256", "oid": oid, "size": len(body)}})]
    r = requests.post(f"{b}/api/models/sam/cross/commit/main", data="\n".join(commit) + "\n",
                      headers={**h, "Content-Type": "application/x-ndjson"}, timeout=60)
    assert r.status_code == 200, r.text
    got = requests.get(f"{a}/sam/cross/resolve/main/y.bin", headers=h, timeout=60)
    assert got.status_code == 200 and got.content == body
    assert "y.bin" in api_b.list_repo_files("sam/cross")


def test_process_killed_mid_upload_other_serves_fsck_clean(cluster, tmp_path):
    c, token = cluster
    a, b = c.nodes
    api_a = HfApi(endpoint=f"http://127.0.0.1:{a.port}", token=token)
    api_a.create_repo("sam/kill")
    big = os.urandom(64 << 20)
    (tmp_path / "big.bin").write_bytes(big)
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            api_a.upload_file(path_or_fileobj=str(tmp_path / "big.bin"), path_in_repo="big.bin", repo_id="sam/kill")
        except BaseException as e:  # noqa: BLE001 - expected: the server dies under it
            errors.append(e)

    t = threading.Thread(target=upload)
    t.start()
    time.sleep(0.3)
    os.kill(a.proc.pid, signal.SIGKILL)
    a.proc.wait(timeout=10)
    t.join(timeout=300)
    # The other process serves everything, including the repo and a retried upload of the same file.
    api_b = HfApi(endpoint=f"http://127.0.0.1:{b.port}", token=token)
    api_b.upload_file(path_or_fileobj=str(tmp_path / "big.bin"), path_in_repo="big.bin", repo_id="sam/kill")
    got = requests.get(f"http://127.0.0.1:{b.port}/sam/kill/resolve/main/big.bin",
                       headers={"Authorization": f"Bearer {token}"}, timeout=120)
    assert got.status_code == 200 and sha256_bytes(got.content) == sha256_bytes(big)
    fsck = b.admin_run("fsck")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    a.start()  # back for the next tests


def test_postgres_restart_fails_clearly_then_recovers(cluster):
    c, token = cluster
    h = {"Authorization": f"Bearer {token}"}
    node = f"http://127.0.0.1:{c.nodes[1].port}"
    assert requests.get(f"{node}/api/whoami-v2", headers=h, timeout=30).status_code == 200
    pg_dir = _hub._PG["dir"]
    script = str(_hub.REPO_ROOT / "scripts" / "pg-test-server.sh")
    subprocess.run(["bash", script, "stop", pg_dir], check=True, capture_output=True, timeout=60)
    try:
        r = requests.get(f"{node}/api/whoami-v2", headers=h, timeout=30)
        assert r.status_code == 503, (r.status_code, r.text)
        assert r.headers.get("Retry-After") and r.json().get("error"), r.text
        r = requests.post(f"{node}/api/repos/create", headers=h, json={"name": "during-outage", "type": "model"},
                          timeout=30)
        assert r.status_code == 503, (r.status_code, r.text)
    finally:
        subprocess.run(["bash", script, "start", pg_dir, str(os.getpid())], check=True, capture_output=True,
                       timeout=120)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if requests.get(f"{node}/api/whoami-v2", headers=h, timeout=30).status_code == 200:
            break
        time.sleep(0.5)
    api = HfApi(endpoint=node, token=token)
    api.create_repo("sam/after-outage")
    api.upload_file(path_or_fileobj=b"back\n", path_in_repo="a.txt", repo_id="sam/after-outage")
    assert "a.txt" in api.list_repo_files("sam/after-outage")


@pytest.mark.parametrize("blobs_to", ["file", "s3"])
def test_embedded_hub_migrates_to_postgres(tmp_path, blobs_to):
    """`modelhub admin migrate`: an embedded hub (SQLite + local blobs) moved to PostgreSQL and to another
    blob location (a folder, or S3) keeps its users, tokens, repos (private ones too), history and files."""
    binary = _hub._binary()
    port = free_port()
    h = Hub(endpoint=f"http://127.0.0.1:{port}", port=port, data_dir=tmp_path / "data", binary=binary,
            log_path=tmp_path / "server.log", tmp=tmp_path)
    h.start()
    try:
        h.create_user("mia", admin=True)
        token = h.create_token("mia", "write", "mia")
        h.create_user("rob")
        h.admin("org", "create", "lab", "--owner", "mia")
        api = HfApi(endpoint=h.endpoint, token=token)
        api.create_repo("mia/gone")
        api.delete_repo("mia/gone")  # its id must never be handed out again
        api.create_repo("lab/secret", private=True)
        big = os.urandom(3 << 20)
        api.upload_file(path_or_fileobj=big, path_in_repo="w.bin", repo_id="lab/secret")
        api.upload_file(path_or_fileobj=b"hello\n", path_in_repo="a.txt", repo_id="lab/secret")
        api.create_tag("lab/secret", tag="v1")
        before = [c.commit_id for c in api.list_repo_commits("lab/secret")]
    finally:
        h.stop()
    db = _hub.new_database()
    moved = f"file://{tmp_path / 'blobs-moved'}" if blobs_to == "file" else _hub.new_bucket_prefix()
    cp = h.admin_run("migrate", "--metadata-url", db, "--blob-url", moved)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "metadata rows copied" in cp.stderr and "blobs" in cp.stderr, cp.stderr
    assert not (h.data_dir / "modelhub.db").exists() and (h.data_dir / "modelhub.db.migrated").exists()
    assert f"metadata = {db}\n" in (h.data_dir / "storage.conf").read_text()
    h.start()  # no flags: the folder's storage.conf names the new stores
    try:
        api = HfApi(endpoint=h.endpoint, token=token)
        assert api.whoami()["name"] == "mia"
        assert [c.commit_id for c in api.list_repo_commits("lab/secret")] == before
        assert [t.name for t in api.list_repo_refs("lab/secret").tags] == ["v1"]
        got = requests.get(f"{h.endpoint}/lab/secret/resolve/v1/w.bin", headers={"Authorization": f"Bearer {token}"},
                           timeout=60)
        assert got.status_code == 200 and got.content == big
        assert requests.get(f"{h.endpoint}/lab/secret/resolve/main/w.bin", timeout=30).status_code in (401, 404)
        # A new repo gets an id past every id SQLite handed out, and works end to end.
        api.create_repo("mia/after")
        api.upload_file(path_or_fileobj=os.urandom(1 << 20), path_in_repo="n.bin", repo_id="mia/after")
        fsck = h.admin_run("fsck")
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        assert _hub.BlobView.open(moved).objects(""), "blobs were not copied to the new location"
        # The migrated folder refuses to be migrated again.
        again = h.admin_run("migrate", "--metadata-url", db)
        assert again.returncode != 0 and "already keeps its metadata" in again.stderr, again.stderr
    finally:
        h.stop()


# ---- the S3 server restarted mid-upload ----------------------------------------------------------------
@pytest.fixture(scope="module")
def s3_fault_hub(tmp_path_factory):
    """A hub on PostgreSQL + a MinIO of its own (restarted by the tests), with the server's S3 retries cut
    to 2 attempts so that an outage reaches the client instead of being ridden out by the server."""
    tmp = tmp_path_factory.mktemp("s3-fault")
    minio = tmp / "minio"
    endpoint = _hub.start_s3_server(minio)
    _hub.s3_client(endpoint).create_bucket(Bucket="faults")
    port = free_port()
    h = Hub(endpoint=f"http://127.0.0.1:{port}", port=port, data_dir=tmp / "data", binary=_hub._binary(),
            log_path=tmp / "server.log", tmp=tmp,
            extra_args=("--metadata-url", _hub.new_database(),
                        "--blob-url", f"s3://faults/hub?endpoint={endpoint}&max_attempts=2"))
    h.start()
    try:
        h.create_user("sue", admin=True)
        yield h, h.create_token("sue", "write", "sue"), minio
    finally:
        h.stop()
        _hub.s3_server_control(minio, "stop")


def _upload_failures_in_log(h: Hub) -> list[str]:
    """Access-log lines of upload requests (xorbs, LFS objects and parts) the server answered with 5xx."""
    return [ln for ln in h.log_text().splitlines()
            if '" 50' in ln and any(k in ln for k in ("/xorbs/", "/xorb/", "lfs"))]


def test_s3_restarted_mid_upload_client_retry_completes(s3_fault_hub, transfer, tmp_path):
    """MinIO is SIGKILLed while the server is writing a xorb to it (a multipart upload is in progress) and
    started again a moment later. The server fails that request (its own two attempts are spent), the
    client retries, the upload completes and reads back intact; every stored object is whole (fsck
    verifies each xorb object, recorded or not)."""
    h, token, minio = s3_fault_hub
    api = HfApi(endpoint=h.endpoint, token=token)
    repo = f"sue/{Hub.unique('s3-restart-' + transfer)}"
    api.create_repo(repo)
    data = os.urandom(160 << 20)  # a few 64 MiB xorbs, each written to S3 in 8 MiB parts
    (tmp_path / "w.bin").write_bytes(data)
    blobs = h.blobs
    failures_before = len(_upload_failures_in_log(h))
    restarted: list[float] = []
    stop = threading.Event()

    def restart_when_writing() -> None:
        deadline = time.monotonic() + 120
        while not stop.is_set() and time.monotonic() < deadline:
            if blobs.incomplete_multipart_uploads():  # the server is writing a xorb right now
                _hub.s3_server_control(minio, "kill")
                restarted.append(time.monotonic())
                time.sleep(1.0)
                _hub.s3_server_control(minio, "start")
                return
            time.sleep(0.02)

    t = threading.Thread(target=restart_when_writing)
    t.start()
    try:
        t0 = time.monotonic()
        api.upload_file(path_or_fileobj=str(tmp_path / "w.bin"), path_in_repo="w.bin", repo_id=repo)
        secs = time.monotonic() - t0
    finally:
        stop.set()
        t.join(timeout=120)
    assert restarted, "no S3 multipart upload was seen in progress: the fault was never injected"
    failed = _upload_failures_in_log(h)[failures_before:]
    report(f"S3 restarted mid-upload ({transfer}): upload of {len(data) >> 20} MiB completed in {secs:.1f} s "
           f"after {len(failed)} failed upload request(s) the client retried")
    assert failed, "the outage never reached the client (no 5xx on an upload request): nothing was retried"
    got = requests.get(f"{h.endpoint}/{repo}/resolve/main/w.bin", headers={"Authorization": f"Bearer {token}"},
                       timeout=300)
    assert got.status_code == 200 and sha256_bytes(got.content) == sha256_bytes(data)
    fsck = h.admin_run("fsck")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert "DAMAGED" not in fsck.stdout and "MISSING" not in fsck.stdout, fsck.stdout
    # Multipart uploads the outage left unfinished (their parts are invisible but stored): gc aborts
    # them. (MinIO forgets, and later expires by itself, uploads it began before its restart: what is
    # listed here is what it still knows.)
    gc = h.admin_run("gc", "--upload-grace-seconds", "0")
    assert gc.returncode == 0, gc.stdout + gc.stderr
    assert "stale uploads:" in gc.stdout + gc.stderr, gc.stdout + gc.stderr
    assert blobs.incomplete_multipart_uploads() == []

"""Small helpers shared by the e2e tests (data generation, hashing, raw HTTP, error assertions)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

import requests

CHUNK = 8 << 20


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def write_random_file(path: str | os.PathLike, size: int) -> str:
    """Writes `size` random bytes in chunks (never all in memory); returns the sha256 hex."""
    h = hashlib.sha256()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(CHUNK, left))
            h.update(block)
            f.write(block)
            left -= len(block)
    return h.hexdigest()


def files_equal(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    return os.path.getsize(a) == os.path.getsize(b) and sha256_file(a) == sha256_file(b)


# ---- raw HTTP -------------------------------------------------------------------------------------

def bearer(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


def ndjson(*lines: dict) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def commit_raw(endpoint: str, repo_id: str, token: str | None, body: bytes, revision: str = "main",
               repo_type: str = "model", content_type: str = "application/x-ndjson", **kw) -> requests.Response:
    return requests.post(f"{endpoint}/api/{repo_type}s/{repo_id}/commit/{revision}", data=body,
                         headers={**bearer(token), "content-type": content_type}, timeout=60, **kw)


def head_sha(endpoint: str, repo_id: str, token: str | None, revision: str = "main",
             repo_type: str = "model") -> str:
    r = requests.get(f"{endpoint}/api/{repo_type}s/{repo_id}/revision/{revision}", headers=bearer(token),
                     timeout=30)
    r.raise_for_status()
    return r.json()["sha"]


def describe(r: requests.Response) -> str:
    hdrs = {k: v for k, v in r.headers.items() if k.lower().startswith("x-") or k.lower() == "content-type"}
    return f"{r.request.method} {r.url} -> {r.status_code} {hdrs} body={r.text[:300]!r}"


def assert_hf_error(r: requests.Response, status: int | tuple[int, ...], code: str | None = None) -> dict:
    """Asserts an HF-style error: status, X-Error-Code (when given) and a JSON body with `error`."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert r.status_code in statuses, f"expected {statuses}: {describe(r)}"
    if code is not None:
        assert r.headers.get("X-Error-Code") == code, f"expected X-Error-Code {code}: {describe(r)}"
    if r.request.method == "HEAD":
        return {}
    try:
        body = r.json()
    except ValueError:
        raise AssertionError(f"error body is not JSON: {describe(r)}") from None
    assert isinstance(body, dict) and body.get("error"), f"JSON body lacks 'error': {describe(r)}"
    return body


def server_counters(endpoint: str, token: str | None) -> dict[str, float]:
    """The storage counters of /metrics: modelhub_chunkstore_X_total as "X" (server-side ingest and
    plain downloads), modelhub_xet_X_total as "xet_X" (the Xet CAS). /metrics needs a hub
    administrator's token (alice's in conftest.py) unless the server runs with --metrics-public."""
    import re

    r = requests.get(f"{endpoint}/metrics", headers=bearer(token), timeout=30)
    assert r.status_code == 200, describe(r)
    out: dict[str, float] = {}
    for line in r.text.splitlines():
        m = re.match(r"^modelhub_(chunkstore|xet)_(\w+?)_total\s+(\S+)$", line)
        if m:
            out[("xet_" if m.group(1) == "xet" else "") + m.group(2)] = float(m.group(3))
    return out


def counters_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after}


# ---- Xet advertisement ----------------------------------------------------------------------------

def xet_headers_on_resolve(endpoint: str, repo_id: str, path: str, token: str | None, revision: str = "main",
                           repo_type: str = "model") -> dict[str, str | None]:
    """What HEAD /resolve answers about Xet for one file (Python clients switch to Xet on X-Xet-Hash)."""
    prefix = "" if repo_type == "model" else f"{repo_type}s/"
    r = requests.head(f"{endpoint}/{prefix}{repo_id}/resolve/{revision}/{path}", headers=bearer(token),
                      allow_redirects=False, timeout=30)
    return {"status": str(r.status_code), "x-xet-hash": r.headers.get("X-Xet-Hash"),
            "link": r.headers.get("Link"), "x-xet-refresh-route": r.headers.get("X-Xet-Refresh-Route")}


def xet_not_advertised(endpoint: str, repo_id: str, path: str, token: str | None,
                       batch_transfer: str | None) -> tuple[str | None, dict]:
    """(reason, HEAD info): reason is None when the server advertises Xet, through the LFS batch answer
    (`transfer: "xet"` to a client that offered it) or X-Xet-Hash on HEAD /resolve of an LFS file;
    else it says what the server answered. Xet tests skip with that reason and run for real once the
    server advertises Xet anywhere."""
    head = xet_headers_on_resolve(endpoint, repo_id, path, token)
    if batch_transfer == "xet" or head["x-xet-hash"]:
        return None, head
    return (f"server advertises no Xet: the LFS batch call offering transfers [basic, multipart, xet] got "
            f"transfer={batch_transfer!r}, and HEAD /{repo_id}/resolve/main/{path} has no X-Xet-Hash "
            f"(status {head['status']}, Link {head['link']!r})"), head


def server_repo_dir(hub, head: str) -> Path:
    """The server's bare repository (DATA/repos/<id>.git: repos are stored by numeric id) whose main is at
    `head`; make head unique first (e.g. a commit with a file named after the repo)."""
    for d in sorted((hub.data_dir / "repos").glob("*.git")):
        cp = subprocess.run(["git", "--git-dir", str(d), "rev-parse", "refs/heads/main"], capture_output=True,
                            text=True)
        if cp.returncode == 0 and cp.stdout.strip() == head:
            return d
    raise AssertionError(f"no server repository has main at {head}")

"""Security issue #11, the Xet CAS findings (docs/protocols/xet.md, "Verification budget" and "What CAS
answers reveal").

Finding 4 (shard amplification): a shard names stored content by reference, so a few hundred KB of terms
can describe a 94 GiB "file" made of repeats of one small xorb, and the server used to read back and
hash all of it inside the request, even after the client had gone. Now a shard that would cost more than
a bounded multiple of the distinct stored content it names is refused (413 ShardTooExpensive) before
any content is read, and a check nobody waits for stops (modelhub_xet_shards_cancelled_total).

Finding 9 (content probing): anyone could get a read token from any public repo and ask the global dedup
endpoint and HEAD /v1/xorbs whether content existed anywhere on the hub, private repos included. Now
dedup needs a write token, and dedup answers, xorb HEAD/GET, `was_inserted` and the skipped re-hash of
a known file only reflect files linked to repositories the caller may read.

The malicious xorbs and shards are built here byte by byte (docs/formats/xorb.md, shard.md) with the
reference hashes of /work/shared/tools/xet_reference.py (or $XET_REFERENCE).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import struct
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from _util import assert_hf_error, bearer, counters_delta, describe, server_counters

_REF = Path(os.environ.get("XET_REFERENCE", "/work/shared/tools/xet_reference.py"))


def _reference():
    spec = importlib.util.spec_from_file_location("xet_reference", _REF)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["xet_reference"] = mod
    spec.loader.exec_module(mod)
    return mod


xr = _reference()

CHUNK = 128 << 10  # the largest chunk a xorb may hold
SHARD_TAG = b"HFRepoMetaData\x00\x55\x69\x67\x45\x6a\x7b\x81\x57\x83\xa5\xbd\xd9\x5c\xcd\xd1\x4a\xa9"
BOOKEND = b"\xff" * 32 + b"\x00" * 16


# ---- building xorbs and shards ---------------------------------------------------------------------


class Xorb:
    """A xorb of uncompressed chunks (records only, as current clients upload them)."""

    def __init__(self, chunks: list[bytes]):
        self.chunks = chunks
        self.hashes = [xr.chunk_hash(c) for c in chunks]
        self.nodes = [(h, len(c)) for h, c in zip(self.hashes, chunks)]
        self.hash = xr.xorb_hash(self.nodes)
        self.hex = xr.to_xet_hex(self.hash)
        self.body = b"".join(bytes([0]) + len(c).to_bytes(3, "little") + bytes([0]) + len(c).to_bytes(3, "little") + c
                             for c in chunks)
        self.raw = sum(len(c) for c in chunks)
        self.verification = xr.verification_hash(self.hashes)


def merkle_root_of_repeats(leaves: list[tuple[bytes, int]]) -> bytes:
    """xr.merkle_root, with each group hashed once: a file of repeats has few distinct groups."""
    level, cache = leaves, {}
    while len(level) > 1:
        nxt, i = [], 0
        while i < len(level):
            k = xr._group_len(level, i)
            key = tuple(level[i:i + k])
            m = cache.get(key)
            if m is None:
                m = cache[key] = xr._merge(list(key))
            nxt.append(m)
            i += k
        level = nxt
    return level[0][0]


def repeats_shard(x: Xorb, repeats: int) -> tuple[bytes, str]:
    """An upload shard describing one file made of `repeats` copies of the whole xorb (no sha256 claim:
    the server must compute it). Returns (shard bytes, file hash hex)."""
    file_hash = xr.blake3_keyed_hash(xr.ZERO_HASH, merkle_root_of_repeats(x.nodes * repeats))
    term = x.hash + struct.pack("<IIII", 0, x.raw, 0, len(x.chunks))
    verification = x.verification + b"\x00" * 16
    out = [SHARD_TAG, struct.pack("<QQ", 2, 0),
           file_hash + struct.pack("<IIQ", 0x80000000, repeats, 0),
           term * repeats, verification * repeats, BOOKEND, BOOKEND]
    return b"".join(out), xr.to_xet_hex(file_hash)


def write_token(hub, repo_id: str, user: str | None, write: bool = True) -> dict:
    kind = "write" if write else "read"
    r = requests.get(f"{hub.endpoint}/api/models/{repo_id}/xet-{kind}-token/main", headers=bearer(
        hub.token(user) if user else None), timeout=30)
    assert r.status_code == 200, describe(r)
    return r.json()


def cas(tok: dict) -> tuple[str, dict]:
    return tok["casUrl"], {"Authorization": f"Bearer {tok['accessToken']}"}


@pytest.fixture(scope="module")
def repeat_xorb(hub, api):
    """alice's repo, a write token for it, and an uploaded 1 MiB xorb (8 random chunks)."""
    rid = hub.repo_id("xet-amplify")
    api.create_repo(rid)
    x = Xorb([os.urandom(CHUNK) for _ in range(8)])
    tok = write_token(hub, rid, "alice")
    url, auth = cas(tok)
    r = requests.post(f"{url}/v1/xorbs/default/{x.hex}", data=x.body, headers=auth, timeout=60)
    assert r.status_code == 200, describe(r)
    return rid, tok, x


# ---- finding 4: shard amplification ---------------------------------------------------------------


def test_shard_of_repeats_is_refused_before_any_work(hub, repeat_xorb):
    """The issue's case: a 1 MiB xorb and a ~9 MB shard describing a 94 GiB file of its repeats. Refused
    at once with an HF-style 413; no content byte is read back (before: the server hashed all of it)."""
    _, tok, x = repeat_xorb
    url, auth = cas(tok)
    shard, _ = repeats_shard(x, 94 * 1024)
    c0 = server_counters(hub.endpoint, hub.token("alice"))
    try:
        r = requests.post(f"{url}/v1/shards", data=shard, headers=auth, timeout=30)
    except requests.exceptions.ReadTimeout:
        pytest.fail("the server was still reading back the 94 GiB reconstruction after 30 s")
    body = assert_hf_error(r, 413, "ShardTooExpensive")
    assert "distinct" in body["error"], body
    d = counters_delta(c0, server_counters(hub.endpoint, hub.token("alice")))
    assert d["xet_shards_over_budget"] == 1 and d["xet_shard_verify_bytes"] == 0, d
    assert d["xet_files_registered"] == 0 and d["xet_shards_received"] == 0, d
    # v2 (what current hf_xet tries first) refuses the same way.
    r2 = requests.post(f"{url}/v2/shards", data=shard, headers=auth, timeout=30)
    assert_hf_error(r2, 413, "ShardTooExpensive")


def _post_and_hang_up(url: str, auth: dict, body: bytes, linger_s: float) -> None:
    """Sends the whole request, waits a little, then closes the connection without reading the answer."""
    u = urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=30) as s:
        head = (f"POST {u.path}/v1/shards HTTP/1.1\r\nHost: {u.netloc}\r\n"
                f"Authorization: {auth['Authorization']}\r\nContent-Length: {len(body)}\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode()
        s.sendall(head + body)
        time.sleep(linger_s)
        s.shutdown(socket.SHUT_RDWR)


def test_shard_check_stops_when_the_client_hangs_up(hub, repeat_xorb):
    """A shard within the budget (1000 MiB of repeats, under the 1 GiB floor) whose client hangs up right
    after sending it: the server stops reading back content and records nothing. The same shard from a
    client that waits is accepted, so the stop is the hang-up's doing."""
    _, tok, x = repeat_xorb
    url, auth = cas(tok)
    size = 1000 * x.raw
    shard, file_hash = repeats_shard(x, 1000)
    c0 = server_counters(hub.endpoint, hub.token("alice"))
    _post_and_hang_up(url, auth, shard, 0.3)
    deadline = time.time() + 60
    d = {}
    while time.time() < deadline:
        d = counters_delta(c0, server_counters(hub.endpoint, hub.token("alice")))
        if d.get("xet_shards_cancelled", 0) >= 1 or d.get("xet_files_registered", 0) >= 1:
            break
        time.sleep(0.2)
    assert d.get("xet_shards_cancelled", 0) == 1, f"the check did not stop after the hang-up: {d}"
    assert d["xet_files_registered"] == 0, d
    assert d["xet_shard_verify_bytes"] < size / 2, d
    # The counter moves before the log line is written: give the line a moment.
    log_deadline = time.time() + 10
    while "closed the connection" not in hub.log_text() and time.time() < log_deadline:
        time.sleep(0.1)
    assert "closed the connection" in hub.log_text()
    # Nothing was recorded: the file is unknown; a patient client gets it accepted.
    c1 = server_counters(hub.endpoint, hub.token("alice"))
    r = requests.post(f"{url}/v1/shards", data=shard, headers=auth, timeout=300)
    assert r.status_code == 200, describe(r)
    d = counters_delta(c1, server_counters(hub.endpoint, hub.token("alice")))
    assert d["xet_files_registered"] == 1 and d["xet_shard_verify_bytes"] == size, d
    rec = requests.get(f"{url}/v1/reconstructions/{file_hash}", headers=auth, timeout=30)
    assert rec.status_code == 200 and len(rec.json()["terms"]) == 1000, describe(rec)


# ---- finding 9: content probing -------------------------------------------------------------------


@pytest.fixture(scope="module")
def secret(hub, api):
    """alice's private repo with a 10.5 MiB random file uploaded through Xet: (repo, bytes, xet hash,
    hex of the file's first chunk hash, hex of its first xorb, that xorb's record bytes)."""
    rid = hub.repo_id("xet-secret")
    api.create_repo(rid, private=True)
    data = os.urandom((10 << 20) + (512 << 10))
    api.upload_file(path_or_fileobj=data, path_in_repo="secret.bin", repo_id=rid)
    h = requests.head(f"{hub.endpoint}/{rid}/resolve/main/secret.bin", headers=bearer(hub.token("alice")), timeout=30)
    xet_hash = h.headers["X-Xet-Hash"]
    off, length = xr.chunk_spans(data[: 2 * CHUNK])[0]
    first_chunk = xr.to_xet_hex(xr.chunk_hash(data[off:off + length]))
    url, auth = cas(write_token(hub, rid, "alice", write=False))
    rec = requests.get(f"{url}/v1/reconstructions/{xet_hash}", headers=auth, timeout=30)
    assert rec.status_code == 200, describe(rec)
    xorb = rec.json()["terms"][0]["hash"]
    fetch = rec.json()["fetch_info"][xorb][0]
    records = requests.get(fetch["url"], headers={"Range": f"bytes={fetch['url_range']['start']}-"
                                                           f"{fetch['url_range']['end']}"}, timeout=60).content
    return rid, data, xet_hash, first_chunk, xorb, records


def test_global_dedup_needs_a_write_token(hub, api, secret):
    """A read token (here: anonymous, of any public repo) may not query global dedup at all."""
    _, _, _, first_chunk, _, _ = secret
    public = hub.repo_id("xet-probe-pub")
    api.create_repo(public)
    url, auth = cas(write_token(hub, public, None, write=False))
    r = requests.get(f"{url}/v1/chunks/default/{first_chunk}", headers=auth, timeout=30)
    assert_hf_error(r, 403)


def test_global_dedup_answers_only_with_content_the_caller_may_read(hub, api, bob_api, secret):
    """bob's write token (his own repo) learns nothing of alice's private file; alice's own write token
    of another repo does (she may read it); public content dedups across users."""
    _, _, _, first_chunk, _, _ = secret
    bob_repo = hub.repo_id("xet-probe", owner="bob")
    bob_api.create_repo(bob_repo)
    url, bob = cas(write_token(hub, bob_repo, "bob"))
    r = requests.get(f"{url}/v1/chunks/default/{first_chunk}", headers=bob, timeout=30)
    assert_hf_error(r, 404)
    other = hub.repo_id("xet-other")
    api.create_repo(other, private=True)
    _, alice = cas(write_token(hub, other, "alice"))
    r = requests.get(f"{url}/v1/chunks/default/{first_chunk}", headers=alice, timeout=30)
    assert r.status_code == 200 and r.content[:14] == b"HFRepoMetaData", describe(r)
    # Content of a public repo of alice: bob's query is answered.
    public = hub.repo_id("xet-pub")
    api.create_repo(public)
    shared = os.urandom((10 << 20) + 4096)
    api.upload_file(path_or_fileobj=shared, path_in_repo="open.bin", repo_id=public)
    off, length = xr.chunk_spans(shared[: 2 * CHUNK])[0]
    r = requests.get(f"{url}/v1/chunks/default/{xr.to_xet_hex(xr.chunk_hash(shared[off:off + length]))}",
                     headers=bob, timeout=30)
    assert r.status_code == 200 and r.content[:14] == b"HFRepoMetaData", describe(r)


def test_xorb_existence_is_not_revealed_outside_readable_repos(hub, api, bob_api, secret):
    """HEAD/GET /v1/xorbs and the was_inserted of a re-upload say "stored" only for a xorb of a file the
    caller may read."""
    rid, _, _, _, xorb, records = secret
    public = hub.repo_id("xet-probe-head")
    api.create_repo(public)
    url, anon = cas(write_token(hub, public, None, write=False))
    assert requests.head(f"{url}/v1/xorbs/default/{xorb}", headers=anon, timeout=30).status_code == 404
    assert requests.get(f"{url}/v1/xorbs/default/{xorb}", headers=anon, timeout=30).status_code == 404
    _, own = cas(write_token(hub, rid, "alice", write=False))
    assert requests.head(f"{url}/v1/xorbs/default/{xorb}", headers=own, timeout=30).status_code == 200
    # bob, holding the very bytes, uploads the xorb: answered as a new one.
    bob_repo = hub.repo_id("xet-probe-post", owner="bob")
    bob_api.create_repo(bob_repo)
    _, bob = cas(write_token(hub, bob_repo, "bob"))
    r = requests.post(f"{url}/v1/xorbs/default/{xorb}", data=records, headers=bob, timeout=60)
    assert r.status_code == 200 and r.json() == {"was_inserted": True}, describe(r)


def test_uploading_a_private_file_again_costs_the_same_as_new_content(hub, bob_api, secret, tmp_path):
    """bob uploads the bytes of alice's private file with the real client: the upload works, and the
    server hashes the content as for a file it never saw (before: it skipped the hash, so the answer's
    timing told bob the file existed)."""
    _, data, xet_hash, _, _, _ = secret
    bob_repo = hub.repo_id("xet-same-bytes", owner="bob")
    bob_api.create_repo(bob_repo)
    c0 = server_counters(hub.endpoint, hub.token("alice"))
    bob_api.upload_file(path_or_fileobj=data, path_in_repo="mine.bin", repo_id=bob_repo)
    d = counters_delta(c0, server_counters(hub.endpoint, hub.token("alice")))
    assert d["xet_files_registered"] == 1 and d["xet_files_hashed"] == 1, d
    h = requests.head(f"{hub.endpoint}/{bob_repo}/resolve/main/mine.bin", headers=bearer(hub.token("bob")),
                      timeout=30)
    assert h.headers.get("X-Xet-Hash") == xet_hash, describe(h)
    r = requests.get(f"{hub.endpoint}/{bob_repo}/resolve/main/mine.bin", headers=bearer(hub.token("bob")), timeout=60)
    assert r.status_code == 200 and r.content == data

"""The Xet protocol (docs/protocols/xet.md) with the unmodified huggingface_hub + hf_xet: uploads and
downloads through modelhub's CAS, dedup of re-uploads and of other users' copies, token scopes, signed
xorb URLs, bad input, and one store behind every path (Xet, plain resolve, the LFS batch API).

Knobs: MODELHUB_E2E_XET_MB  size of the file re-uploaded with 1% of its bytes changed (default 1024).
Figures are printed (pytest -s) and written to tests/e2e/.results/xet.txt.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from huggingface_hub import hf_hub_download

from _hub import start_hub
from _util import assert_hf_error, bearer, counters_delta, describe, server_counters, sha256_bytes, sha256_file

XET_MB = int(os.environ.get("MODELHUB_E2E_XET_MB", "1024"))
RESULTS = Path(__file__).parent / ".results" / "xet.txt"
MB = 1_000_000


def report(line: str) -> None:
    print(line)
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as f:
        f.write(line + "\n")


def xorb_disk_bytes(hub) -> int:
    """Bytes of every xorb in the hub's blob store (DATA/blobs or its S3 prefix)."""
    return hub.blobs.total("xorbs/")


def write_random(path: Path, size: int, seed: int) -> None:
    import random

    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        left = size
        while left:
            n = min(left, 16 << 20)
            f.write(rng.randbytes(n))
            left -= n


def xet_token(hub, repo_id: str, user: str | None, write: bool = False, rev: str = "main",
              repo_type: str = "model") -> requests.Response:
    kind = "write" if write else "read"
    return requests.get(f"{hub.endpoint}/api/{repo_type}s/{repo_id}/xet-{kind}-token/{rev}",
                        headers=bearer(hub.token(user) if user else None), timeout=30)


def cas_auth(tok: dict) -> dict:
    return {"Authorization": f"Bearer {tok['accessToken']}"}


FRESH_CLIENT = r"""
import json, os, sys, time
from huggingface_hub import HfApi
endpoint, token, repo_id, path, name = sys.argv[1:6]
api = HfApi(endpoint=endpoint, token=token)
api.create_repo(repo_id, exist_ok=True)
t = time.time()
api.upload_file(path_or_fileobj=path, path_in_repo=name, repo_id=repo_id)
print(json.dumps({"seconds": time.time() - t}))
"""


def upload_from_fresh_client(hub, tmp_path: Path, user: str, repo_id: str, path: Path, name: str) -> dict:
    """Another machine: its own process, HF_HOME and Xet caches (nothing to dedup against locally)."""
    home = tmp_path / f"home-{user}-{time.time_ns()}"
    env = {**os.environ, "HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"), "HF_XET_CACHE": str(home / "xet")}
    r = subprocess.run([sys.executable, "-c", FRESH_CLIENT, hub.endpoint, hub.token(user), repo_id, str(path), name],
                       env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f"upload in a fresh client failed:\n{r.stdout}\n{r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---- the client flows ------------------------------------------------------------------------


def test_upload_folder_and_snapshot_download_through_xet(hub, api, tmp_path, monkeypatch):
    src = tmp_path / "src"
    write_random(src / "model-00001-of-00002.safetensors", 24 << 20, 1)
    write_random(src / "model-00002-of-00002.safetensors", 12 << 20, 2)
    (src / "weights").mkdir()
    (src / "weights" / "repeated.bin").write_bytes(b"modelhub xet " * (1 << 20))  # compressible, 13 MB
    (src / "config.json").write_text('{"model_type": "llama"}\n')
    expected = {str(p.relative_to(src)): sha256_file(p) for p in src.rglob("*") if p.is_file()}
    large = sum(p.stat().st_size for p in src.rglob("*") if p.stat().st_size > 10 << 20)
    rid = hub.repo_id("xet-folder")
    api.create_repo(rid)

    c0 = server_counters(hub.endpoint, hub.token("alice"))
    api.upload_folder(repo_id=rid, folder_path=src)
    up = counters_delta(c0, server_counters(hub.endpoint, hub.token("alice")))
    report(f"upload_folder through Xet: {up['xet_xorbs_received']:.0f} xorbs ({up['xet_xorb_bytes_received'] / MB:.1f} MB), "
           f"{up['xet_shards_received']:.0f} shard(s), {up['xet_files_registered']:.0f} files registered")
    assert up["xet_xorbs_received"] >= 1 and up["xet_shards_received"] >= 1, up
    assert up["xet_files_registered"] >= 3, up
    assert up["ingested_bytes"] == 0, "large files went through the LFS path, not Xet"
    # The repeated file compresses: fewer bytes arrive than the files hold.
    assert up["xet_xorb_bytes_received"] < large, up

    c1 = server_counters(hub.endpoint, hub.token("alice"))
    from huggingface_hub import snapshot_download

    out = Path(snapshot_download(rid, cache_dir=tmp_path / "cache-xet"))
    down = counters_delta(c1, server_counters(hub.endpoint, hub.token("alice")))
    assert down["xet_reconstructions"] >= 3 and down["xet_xorb_bytes_served"] > 0, down
    assert down["bytes_served"] == 0, down
    for name, digest in expected.items():
        assert sha256_file(out / name) == digest, name

    # The same files with Xet switched off in the client: plain resolve, rebuilt by the server.
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    c2 = server_counters(hub.endpoint, hub.token("alice"))
    out = Path(snapshot_download(rid, cache_dir=tmp_path / "cache-plain"))
    plain = counters_delta(c2, server_counters(hub.endpoint, hub.token("alice")))
    assert plain["xet_reconstructions"] == 0 and plain["bytes_served"] >= large, plain
    for name, digest in expected.items():
        assert sha256_file(out / name) == digest, name


def test_resolve_tree_and_token_endpoints_point_at_the_cas(hub, api, tmp_path):
    rid = hub.repo_id("xet-headers")
    api.create_repo(rid)
    data = os.urandom(3 << 20)
    api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=rid)
    commit = api.model_info(rid).sha
    h = requests.head(f"{hub.endpoint}/{rid}/resolve/main/w.bin", timeout=30)
    assert h.status_code == 200, describe(h)
    xet_hash = h.headers.get("X-Xet-Hash", "")
    assert len(xet_hash) == 64 and all(c in "0123456789abcdef" for c in xet_hash), describe(h)
    assert f'<{hub.endpoint}/api/models/{rid}/xet-read-token/{commit}>; rel="xet-auth"' in h.headers["Link"], describe(h)
    assert h.headers["X-Linked-Etag"].strip('"') == sha256_bytes(data)
    tree = requests.get(f"{hub.endpoint}/api/models/{rid}/tree/main", timeout=30).json()
    entry = next(e for e in tree if e["path"] == "w.bin")
    assert entry["xetHash"] == xet_hash and entry["lfs"]["oid"] == sha256_bytes(data), entry
    info = requests.post(f"{hub.endpoint}/api/models/{rid}/paths-info/main", data={"paths": ["w.bin"]}, timeout=30).json()
    assert info[0]["xetHash"] == xet_hash, info
    # Regular (git) files carry no Xet hash.
    h = requests.head(f"{hub.endpoint}/{rid}/resolve/main/.gitattributes", timeout=30)
    assert "X-Xet-Hash" not in h.headers, describe(h)

    r = xet_token(hub, rid, None)  # public repo: anyone may read
    assert r.status_code == 200, describe(r)
    tok = r.json()
    assert tok["casUrl"] == f"{hub.endpoint}/api/cas" and tok["exp"] > time.time() + 600, tok
    assert r.headers["X-Xet-Access-Token"] == tok["accessToken"]
    assert r.headers["X-Xet-Cas-Url"] == tok["casUrl"] and int(r.headers["X-Xet-Token-Expiration"]) == tok["exp"]
    assert_hf_error(xet_token(hub, rid, None, write=True), 401)
    assert_hf_error(xet_token(hub, rid, "bob", write=True), 403)
    assert xet_token(hub, rid, "alice", write=True).status_code == 200
    # The reconstruction of the file by its hash.
    rec = requests.get(f"{tok['casUrl']}/v1/reconstructions/{xet_hash}", headers=cas_auth(tok), timeout=30)
    assert rec.status_code == 200, describe(rec)
    body = rec.json()
    assert sum(t["unpacked_length"] for t in body["terms"]) == len(data), body
    assert set(body["fetch_info"]) == {t["hash"] for t in body["terms"]}
    # V2 (what the JS client reads, and hf_xet tries first): the same terms, one signed range per entry.
    v2 = requests.get(f"{tok['casUrl']}/v2/reconstructions/{xet_hash}", headers={**cas_auth(tok), "Range": "bytes=0-99"},
                      timeout=30)
    assert v2.status_code == 200, describe(v2)
    v2b = v2.json()
    assert v2b["offset_into_first_range"] == 0 and v2b["terms"][0]["range"]["start"] == 0, v2b
    entry = v2b["xorbs"][v2b["terms"][0]["hash"]][0]
    rng = entry["ranges"][0]
    got = requests.get(entry["url"], headers={"Range": f"bytes={rng['bytes']['start']}-{rng['bytes']['end']}"}, timeout=30)
    assert got.status_code == 206 and len(got.content) == rng["bytes"]["end"] - rng["bytes"]["start"] + 1, describe(got)


def test_reupload_with_one_percent_changed_transfers_little(hub, api, tmp_path):
    """A XET_MB file, then the same file with 1% of its bytes rewritten in 8 places: the server receives
    a small fraction of the file and stores about that much more."""
    size = XET_MB << 20
    path = tmp_path / "model.safetensors"
    write_random(path, size, 7)
    rid = hub.repo_id("xet-edit")
    api.create_repo(rid)
    c0, d0 = server_counters(hub.endpoint, hub.token("alice")), xorb_disk_bytes(hub)
    api.upload_file(path_or_fileobj=str(path), path_in_repo="model.safetensors", repo_id=rid)
    first = counters_delta(c0, server_counters(hub.endpoint, hub.token("alice")))
    d1 = xorb_disk_bytes(hub)
    assert first["xet_xorb_bytes_received"] >= size * 0.99, first

    # 1% of the bytes, in 8 runs spread over the file.
    changed = size // 100
    run = changed // 8
    with path.open("r+b") as f:
        for i in range(8):
            f.seek(i * (size // 8) + size // 32)
            f.write(os.urandom(run))
    want = sha256_file(path)
    c1 = server_counters(hub.endpoint, hub.token("alice"))
    api.upload_file(path_or_fileobj=str(path), path_in_repo="model.safetensors", repo_id=rid)
    second = counters_delta(c1, server_counters(hub.endpoint, hub.token("alice")))
    d2 = xorb_disk_bytes(hub)
    received = second["xet_xorb_bytes_received"] + second["xet_shard_bytes_received"]
    report(f"re-upload of {size / MB:.0f} MB with {changed / MB:.1f} MB (1%) changed in 8 places: server received "
           f"{received / MB:.2f} MB ({100 * received / size:.2f}% of the file); stored +{(d2 - d1) / MB:.2f} MB "
           f"(first upload stored {(d1 - d0) / MB:.1f} MB)")
    assert received <= size * 0.05, second
    assert d2 - d1 <= size * 0.05, (d1, d2)
    got = hf_hub_download(rid, "model.safetensors", cache_dir=tmp_path / "cache", token=hub.token("alice"))
    assert sha256_file(got) == want


def test_same_model_by_another_user_transfers_almost_nothing(hub, api, tmp_path):
    """alice uploads a file; bob, on another machine (fresh process and caches), uploads the same bytes to
    his own repo: the global dedup query finds every chunk, almost nothing is sent."""
    size = 64 << 20
    path = tmp_path / "shared.safetensors"
    write_random(path, size, 99)
    api.create_repo(hub.repo_id("xet-orig"))
    upload_from_fresh_client(hub, tmp_path, "alice", hub.repo_id("xet-orig"), path, "model.safetensors")
    c0, d0 = server_counters(hub.endpoint, hub.token("alice")), xorb_disk_bytes(hub)
    bob_repo = hub.repo_id("xet-copy", owner="bob")
    upload_from_fresh_client(hub, tmp_path, "bob", bob_repo, path, "model.safetensors")
    d = counters_delta(c0, server_counters(hub.endpoint, hub.token("alice")))
    received = d["xet_xorb_bytes_received"] + d["xet_shard_bytes_received"]
    report(f"same {size / MB:.0f} MB file by another user from a fresh client: {d['xet_dedup_queries']:.0f} dedup "
           f"queries ({d['xet_dedup_hits']:.0f} answered), received {received / MB:.3f} MB, "
           f"stored +{(xorb_disk_bytes(hub) - d0) / MB:.3f} MB")
    assert d["xet_dedup_hits"] >= 1, d
    assert received <= size * 0.01, d
    assert xorb_disk_bytes(hub) - d0 <= size * 0.01
    got = hf_hub_download(bob_repo, "model.safetensors", cache_dir=tmp_path / "cache", token=hub.token("bob"))
    assert sha256_file(got) == sha256_file(path)


def test_one_store_every_path(hub, api, tmp_path, monkeypatch):
    """Xet-uploaded: served by plain resolve and the LFS batch API. LFS-uploaded: served through Xet."""
    rid = hub.repo_id("xet-paths")
    api.create_repo(rid)
    via_xet = os.urandom(5 << 20)
    api.upload_file(path_or_fileobj=via_xet, path_in_repo="via_xet.bin", repo_id=rid)
    oid = sha256_bytes(via_xet)
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/main/via_xet.bin", timeout=60)
    assert r.status_code == 200 and sha256_bytes(r.content) == oid, describe(r)
    lfs_json = "application/vnd.git-lfs+json"
    b = requests.post(f"{hub.endpoint}/{rid}.git/info/lfs/objects/batch",
                      json={"operation": "download", "objects": [{"oid": oid, "size": len(via_xet)}]},
                      headers={"accept": lfs_json, "content-type": lfs_json}, timeout=30)
    assert b.status_code == 200, describe(b)
    href = b.json()["objects"][0]["actions"]["download"]["href"]
    assert sha256_bytes(requests.get(href, timeout=60).content) == oid

    from huggingface_hub import constants

    via_lfs = os.urandom(6 << 20)
    with monkeypatch.context() as m:
        m.setattr(constants, "HF_HUB_DISABLE_XET", True)
        c0 = server_counters(hub.endpoint, hub.token("alice"))
        api.upload_file(path_or_fileobj=via_lfs, path_in_repo="via_lfs.bin", repo_id=rid)
        assert counters_delta(c0, server_counters(hub.endpoint, hub.token("alice")))["ingested_bytes"] >= len(via_lfs)
    c1 = server_counters(hub.endpoint, hub.token("alice"))
    got = hf_hub_download(rid, "via_lfs.bin", cache_dir=tmp_path / "cache", token=hub.token("alice"))
    assert counters_delta(c1, server_counters(hub.endpoint, hub.token("alice")))["xet_reconstructions"] >= 1
    assert sha256_file(got) == sha256_bytes(via_lfs)


# ---- access control and signed URLs ----------------------------------------------------------


def test_token_of_one_repo_cannot_read_another_private_repo(hub, api, bob_api, tmp_path):
    private = hub.repo_id("xet-private")
    api.create_repo(private, private=True)
    secret = os.urandom(2 << 20)
    api.upload_file(path_or_fileobj=secret, path_in_repo="secret.bin", repo_id=private)
    h = requests.head(f"{hub.endpoint}/{private}/resolve/main/secret.bin", headers=bearer(hub.token("alice")), timeout=30)
    xet_hash = h.headers["X-Xet-Hash"]
    own = xet_token(hub, private, "alice").json()
    assert requests.get(f"{own['casUrl']}/v1/reconstructions/{xet_hash}", headers=cas_auth(own), timeout=30).ok
    # bob: no token for alice's private repo at all; his own public repo's token sees nothing of it.
    assert_hf_error(xet_token(hub, private, "bob"), 404, "RepoNotFound")
    bob_repo = hub.repo_id("xet-bobs", owner="bob")
    bob_api.create_repo(bob_repo)
    bobs = xet_token(hub, bob_repo, "bob", write=True).json()
    r = requests.get(f"{bobs['casUrl']}/v1/reconstructions/{xet_hash}", headers=cas_auth(bobs), timeout=30)
    assert_hf_error(r, 404)
    # Nor does a token of one of alice's own public repos.
    public = hub.repo_id("xet-public")
    api.create_repo(public)
    pub = xet_token(hub, public, None).json()
    assert_hf_error(requests.get(f"{pub['casUrl']}/v1/reconstructions/{xet_hash}", headers=cas_auth(pub), timeout=30), 404)
    # A read token may not upload; no token, or a made-up one, is refused.
    assert_hf_error(requests.post(f"{pub['casUrl']}/v1/xorbs/default/{'0' * 64}", data=b"x", headers=cas_auth(pub),
                                  timeout=30), 403)
    assert_hf_error(requests.get(f"{pub['casUrl']}/v1/reconstructions/{xet_hash}", timeout=30), 401, "InvalidXetToken")
    forged = dict(pub, accessToken=pub["accessToken"][:-2] + ("AA" if not pub["accessToken"].endswith("AA") else "BB"))
    assert_hf_error(requests.get(f"{pub['casUrl']}/v1/reconstructions/{xet_hash}", headers=cas_auth(forged), timeout=30),
                    401, "InvalidXetToken")


def test_signed_xorb_urls_refuse_tampering(hub, api):
    rid = hub.repo_id("xet-signed")
    api.create_repo(rid)
    data = os.urandom(1 << 20)
    api.upload_file(path_or_fileobj=data, path_in_repo="d.bin", repo_id=rid)
    xet_hash = requests.head(f"{hub.endpoint}/{rid}/resolve/main/d.bin", timeout=30).headers["X-Xet-Hash"]
    tok = xet_token(hub, rid, None).json()
    body = requests.get(f"{tok['casUrl']}/v1/reconstructions/{xet_hash}", headers=cas_auth(tok), timeout=30).json()
    fetch = next(iter(body["fetch_info"].values()))[0]
    url, first, last = fetch["url"], fetch["url_range"]["start"], fetch["url_range"]["end"]
    ok = requests.get(url, headers={"Range": f"bytes={first}-{last}"}, timeout=30)  # no bearer token
    assert ok.status_code == 206 and len(ok.content) == last - first + 1, describe(ok)
    base, query = url.split("?", 1)
    params = dict(p.split("=", 1) for p in query.split("&"))
    tampered = [
        f"{base}?r={first}-{last + 10}&exp={params['exp']}&sig={params['sig']}",        # wider range
        f"{base}?r={params['r']}&exp={int(params['exp']) + 3600}&sig={params['sig']}",  # later expiry
        f"{base}?r={params['r']}&exp={params['exp']}&sig={params['sig'][:-1]}{'B' if params['sig'][-1] == 'A' else 'A'}",  # altered signature
        f"{base[:-1]}{'0' if base[-1] != '0' else '1'}?{query}",                      # another xorb
        base,                                                                          # unsigned
    ]
    for bad in tampered:
        r = requests.get(bad, timeout=30)
        assert r.status_code == 403, (bad, describe(r))
    # A Range outside the signed one.
    assert requests.get(url, headers={"Range": f"bytes={last + 1}-{last + 5}"}, timeout=30).status_code == 416


def test_expired_tokens_and_urls_are_refused(tmp_path_factory):
    h = start_hub(tmp_path_factory.mktemp("xet-ttl"), extra_args=("--xet-token-ttl-seconds", "2"))
    try:
        h.create_user("tia", admin=True)
        token = h.create_token("tia", "write", "tia")
        from huggingface_hub import HfApi

        api = HfApi(endpoint=h.endpoint, token=token)
        api.create_repo("tia/m")
        api.upload_file(path_or_fileobj=os.urandom(1 << 20), path_in_repo="a.bin", repo_id="tia/m")
        xet_hash = requests.head(f"{h.endpoint}/tia/m/resolve/main/a.bin", timeout=30).headers["X-Xet-Hash"]
        tok = requests.get(f"{h.endpoint}/api/models/tia/m/xet-read-token/main", timeout=30).json()
        rec = requests.get(f"{tok['casUrl']}/v1/reconstructions/{xet_hash}", headers=cas_auth(tok), timeout=30)
        assert rec.status_code == 200, describe(rec)
        url = next(iter(rec.json()["fetch_info"].values()))[0]["url"]
        time.sleep(3.5)
        assert_hf_error(requests.get(f"{tok['casUrl']}/v1/reconstructions/{xet_hash}", headers=cas_auth(tok),
                                     timeout=30), 401, "ExpiredXetToken")
        r = requests.get(url, timeout=30)
        assert r.status_code == 403 and "expired" in r.headers.get("X-Error-Message", ""), describe(r)
    finally:
        h.stop()


# ---- bad input -----------------------------------------------------------------------------------


def test_bad_xorbs_and_shards_are_refused_and_change_nothing(hub, api):
    rid = hub.repo_id("xet-bad")
    api.create_repo(rid)
    tok = xet_token(hub, rid, "alice", write=True).json()
    cas, auth = tok["casUrl"], cas_auth(tok)
    c0 = server_counters(hub.endpoint, hub.token("alice"))
    # A valid-looking record (version 0, 5 bytes stored raw) under a hash it does not have.
    record = bytes([0, 5, 0, 0, 0, 5, 0, 0]) + b"hello"
    wrong = "ab" * 32
    r = requests.post(f"{cas}/v1/xorbs/default/{wrong}", data=record, headers=auth, timeout=30)
    assert_hf_error(r, 400, "InvalidXorb")
    assert requests.head(f"{cas}/v1/xorbs/default/{wrong}", headers=auth, timeout=30).status_code == 404
    assert_hf_error(requests.post(f"{cas}/v1/xorbs/default/{wrong}", data=b"\x07garbage", headers=auth, timeout=30),
                    400, "InvalidXorb")
    assert_hf_error(requests.post(f"{cas}/v1/xorbs/default/not-a-hash", data=record, headers=auth, timeout=30), 400)
    assert_hf_error(requests.post(f"{cas}/v1/shards", data=b"not a shard", headers=auth, timeout=30), 400, "InvalidShard")
    assert_hf_error(requests.get(f"{cas}/v1/reconstructions/{'cd' * 32}", headers=auth, timeout=30), 404)
    assert_hf_error(requests.get(f"{cas}/v1/reconstructions/xyz", headers=auth, timeout=30), 400)
    assert requests.get(f"{cas}/v1/chunks/default/{'ef' * 32}", headers=auth, timeout=30).status_code == 404
    d = counters_delta(c0, server_counters(hub.endpoint, hub.token("alice")))
    assert d["xet_xorbs_received"] == 0 and d["xet_shards_received"] == 0 and d["xet_files_registered"] == 0, d
    # A range past the end of a real file.
    data = os.urandom(100_000)
    api.upload_file(path_or_fileobj=data, path_in_repo="small.bin", repo_id=rid)
    xet_hash = requests.head(f"{hub.endpoint}/{rid}/resolve/main/small.bin", timeout=30).headers["X-Xet-Hash"]
    r = requests.get(f"{cas}/v1/reconstructions/{xet_hash}", headers={**auth, "Range": "bytes=100000-100010"},
                     timeout=30)
    assert r.status_code == 416, describe(r)

"""The official JS client, @huggingface/hub (pinned in tests/js/package.json), against modelhub via `hubUrl`.

tests/js/roundtrip.mjs creates a repo, uploads generated files in one commit (a 30 MiB random file, a
12 MiB file made of one 1 MiB block repeated, a 4 KiB *.bin and three small text files), lists the repo,
downloads every file whole and one byte range of it, and prints what it saw as JSON (including a log
of every request the client made). The tests below assert on that JSON.

Two runs:
  - useXet:false / xet:false: the plain path (LFS batch with transfers [basic, multipart], PUT to the
    signed href, HTTP GET on /resolve with Range).
  - the client's defaults (useXet:true): it offers "xet" in the LFS batch call and uploads xorbs and a
    shard to the CAS when the server answers transfer "xet"; it downloads through the CAS when GET
    /resolve (sent with Accept: application/vnd.xet-fileinfo+json) answers with that content type.
    These tests skip only when the server advertises no Xet at all (batch answer not "xet" and HEAD
    /resolve without X-Xet-Hash); once it advertises Xet anywhere, the JS Xet path must work.

Needs node (>= 20) and tests/js/node_modules (scripts/install-deps.sh runs `npm ci` there).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from _hub import REPO_ROOT
from _util import bearer, xet_not_advertised

JS_DIR = REPO_ROOT / "tests" / "js"
LARGE_MB = 30
REPEATED_MB = 12
LFS_PATHS = {"small.bin", "large.bin", "repeated.bin"}  # *.bin is LFS by the default .gitattributes
REGULAR_PATHS = {"README.md", "config.json", "nested/deeper/notes.txt"}
HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (scripts/install-deps.sh installs nodejs and npm)", pytrace=False)
    if not (JS_DIR / "node_modules" / "@huggingface" / "hub" / "package.json").exists():
        pytest.fail(f"{JS_DIR}/node_modules lacks @huggingface/hub: run scripts/install-deps.sh (npm ci)",
                    pytrace=False)
    return node


def run_roundtrip(hub, workdir: Path, repo_id: str, xet: bool) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [_node(), str(JS_DIR / "roundtrip.mjs"), "--endpoint", hub.endpoint, "--repo", repo_id,
           "--workdir", str(workdir), "--xet", "true" if xet else "false",
           "--large-mb", str(LARGE_MB), "--repeated-mb", str(REPEATED_MB)]
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env["MODELHUB_TOKEN"] = hub.token("alice")
    cp = subprocess.run(cmd, cwd=JS_DIR, env=env, capture_output=True, text=True, timeout=420)
    lines = [ln for ln in cp.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        pytest.fail(f"roundtrip.mjs printed no JSON (exit {cp.returncode})\nstdout: {cp.stdout[-2000:]}\n"
                    f"stderr: {cp.stderr[-4000:]}", pytrace=False)
    result = json.loads(lines[-1])
    result["_stderr"] = cp.stderr[-4000:]
    result["_exit"] = cp.returncode
    return result


def require_ok(result: dict) -> None:
    if result.get("ok"):
        return
    err = result.get("error", {})
    reqs = "\n".join(f"  {r.get('method')} {r.get('url')} -> {r.get('status', r.get('error'))}"
                     for r in result.get("lastRequests", []))
    pytest.fail(f"JS client failed in phase {result.get('phase')!r}: {err.get('name')}: {err.get('message')}"
                f" (status {err.get('statusCode')}, url {err.get('url')})\nlast requests:\n{reqs}\n"
                f"stack: {err.get('stack', '')[:1500]}\nstderr: {result.get('_stderr', '')}", pytrace=False)


def routes(result: dict, phase: str) -> dict:
    return result[phase]["routes"]


def route_count(result: dict, phase: str, key: str, status: str | None = None) -> int:
    r = routes(result, phase).get(key)
    if r is None:
        return 0
    return r["count"] if status is None else r["statuses"].get(status, 0)


@pytest.fixture(scope="module")
def lfs_run(hub, tmp_path_factory):
    return run_roundtrip(hub, tmp_path_factory.mktemp("js-lfs"), hub.repo_id("js-lfs"), xet=False)


@pytest.fixture(scope="module")
def xet_run(hub, tmp_path_factory):
    return run_roundtrip(hub, tmp_path_factory.mktemp("js-xet"), hub.repo_id("js-xet"), xet=True)


def check_listing_and_bytes(result: dict, expect_via: dict[str, str]) -> None:
    files = {f["path"]: f for f in result["files"]}
    listing = {e["path"]: e for e in result["listing"]}
    assert {"nested", "nested/deeper"} <= {p for p, e in listing.items() if e["type"] == "directory"}
    for path, f in files.items():
        e = listing.get(path)
        assert e is not None and e["type"] == "file", f"listFiles lacks {path}: {sorted(listing)}"
        assert e["size"] == f["size"], f"{path}: listed size {e['size']} != {f['size']}"
        assert HEX40.match(e["oid"] or ""), f"{path}: oid {e['oid']!r}"
        if path in LFS_PATHS:
            assert e["lfs"] and e["lfs"]["oid"] == f["sha256"] and e["lfs"]["size"] == f["size"], (path, e)
        else:
            assert e["lfs"] is None, f"{path} is small text, listed as LFS: {e}"
    downloads = {d["path"]: d for d in result["downloads"]}
    for path, f in files.items():
        d = downloads[path]
        assert not d.get("missing"), f"downloadFile returned null (404 EntryNotFound) for {path}"
        assert d["bytes"] == f["size"], f"{path}: downloaded {d['bytes']} bytes, uploaded {f['size']}"
        assert d["sha256"] == f["sha256"], f"{path}: downloaded bytes differ from the uploaded ones"
        assert d["range"]["ok"], f"{path}: bytes [{d['range']['start']},{d['range']['end']}) differ ({d})"
        assert d["via"] == expect_via[path], f"{path}: downloaded through {d['via']}, expected {expect_via[path]}"


# ---- plain LFS path ------------------------------------------------------------------------------

def test_js_lfs_upload_goes_through_lfs_batch(lfs_run):
    require_ok(lfs_run)
    batch = lfs_run["upload"]["lfsBatch"]
    assert batch and batch["status"] == 200, batch
    assert batch["request"]["transfers"] == ["basic", "multipart"], batch["request"]
    assert batch["request"]["hash_algo"] == "sha_256"  # the JS spelling; the server must accept it
    assert {o["oid"] for o in batch["request"]["objects"]} == {
        f["sha256"] for f in lfs_run["files"] if f["path"] in LFS_PATHS}
    assert batch["response"]["transfer"] in ("basic", "multipart"), batch["response"]
    # Every LFS file went up with PUT to the href the batch call gave (a new repo has none of them).
    assert route_count(lfs_run, "upload", "PUT lfs:upload href", "200") >= len(LFS_PATHS), routes(lfs_run, "upload")
    assert not [k for k in routes(lfs_run, "upload") if "cas:" in k or "xet-" in k], routes(lfs_run, "upload")
    assert HEX40.match(lfs_run["upload"]["commit"]["commit"]["oid"])
    assert "/commit/" in lfs_run["upload"]["commit"]["commit"]["url"]


def test_js_lfs_listing_and_download_bytes(lfs_run):
    require_ok(lfs_run)
    check_listing_and_bytes(lfs_run, {p: "WebBlob" for p in LFS_PATHS | REGULAR_PATHS})
    # The downloads (xet: false) used only /resolve (GET with Range), never the CAS. fileDownloadInfo
    # always asks for the Xet file info: LFS-uploaded files are in the same chunk store, so it gets
    # it (200) for those and the first byte (206) for git-stored ones; every download is a 206.
    assert set(routes(lfs_run, "download")) == {"GET hub:resolve"}, routes(lfs_run, "download")
    assert route_count(lfs_run, "download", "GET hub:resolve", "206") >= len(lfs_run["files"])
    infos = {d["path"]: d.get("info") or {} for d in lfs_run["downloads"]}
    assert all(infos[p].get("xet") for p in LFS_PATHS), infos


# ---- Xet path ------------------------------------------------------------------------------------

def xet_advertised_or_skip(hub, result: dict) -> dict:
    """Skips (saying what the server answered) when the server advertises no Xet; else returns HEAD info."""
    require_ok(result)
    reason, head = xet_not_advertised(hub.endpoint, result["repo"], "large.bin", hub.token("alice"),
                                      result["upload"]["lfsBatch"]["response"].get("transfer"))
    if reason:
        pytest.skip(reason)
    return head


def test_js_default_mode_roundtrip(xet_run):
    """The client's defaults (Xet offered) must round-trip the bytes whatever the server chooses."""
    require_ok(xet_run)
    assert xet_run["upload"]["lfsBatch"]["request"]["transfers"] == ["basic", "multipart", "xet"]
    transfer = xet_run["upload"]["lfsBatch"]["response"].get("transfer")
    assert transfer in ("basic", "multipart", "xet"), transfer
    via = {d["path"]: d["via"] for d in xet_run["downloads"]}
    check_listing_and_bytes(xet_run, via)
    assert set(via.values()) <= {"WebBlob", "XetBlob"}


def test_js_xet_upload(hub, xet_run):
    xet_advertised_or_skip(hub, xet_run)
    batch = xet_run["upload"]["lfsBatch"]
    assert batch["request"]["transfers"] == ["basic", "multipart", "xet"], batch["request"]
    assert batch["response"].get("transfer") == "xet", (
        f"the server advertises Xet on /resolve but answered the JS client's LFS batch "
        f"(transfers [basic, multipart, xet]) with transfer={batch['response'].get('transfer')!r}")
    for obj in batch["response"]["objects"]:
        up = (obj.get("actions") or {}).get("upload")
        assert up, f"a new repo already has {obj['oid']}? (no upload action) {obj}"
        # JS reads these headers first and falls back to GET href (the write-token URL) for the token.
        hdr = {k.lower(): v for k, v in (up.get("header") or {}).items()}
        assert "xet-write-token" in up["href"] or {"x-xet-cas-url", "x-xet-access-token"} <= set(hdr), up
    r = routes(xet_run, "upload")
    assert route_count(xet_run, "upload", "POST cas:POST xorb") >= 1, r
    assert route_count(xet_run, "upload", "POST cas:POST xorb") == route_count(
        xet_run, "upload", "POST cas:POST xorb", "200"), r
    assert route_count(xet_run, "upload", "POST cas:shards v1", "200") >= 1, r
    assert "PUT lfs:upload href" not in r, f"Xet negotiated but files still went through LFS PUT: {r}"
    # repeated.bin is 12 copies of one 1 MiB block: chunk dedup keeps the xorb bytes well under the total.
    lfs_total = sum(f["size"] for f in xet_run["files"] if f["path"] in LFS_PATHS)
    xorb_bytes = r["POST cas:POST xorb"]["bytesSent"]
    assert 0 < xorb_bytes < 0.9 * lfs_total, f"xorb bytes {xorb_bytes} vs {lfs_total} bytes of LFS files"
    assert HEX40.match(xet_run["upload"]["commit"]["commit"]["oid"])


def test_js_xet_listing_and_download(hub, xet_run):
    head = xet_advertised_or_skip(hub, xet_run)
    assert head["x-xet-hash"] and HEX64.match(head["x-xet-hash"]), head
    downloads = {d["path"]: d for d in xet_run["downloads"]}
    for path in LFS_PATHS:
        info = downloads[path]["info"]
        assert info and info["xet"], (
            f"HEAD /resolve advertises Xet (X-Xet-Hash) but GET /resolve/main/{path} with "
            f"'Accept: application/vnd.xet-fileinfo+json, */*' did not answer Content-Type "
            f"application/vnd.xet-fileinfo+json with X-Xet-Hash and Link rels xet-auth + "
            f"xet-reconstruction-info, so the JS client cannot use Xet: {downloads[path]}")
        assert HEX64.match(info["xet"]["hash"]), info
        assert "xet-read-token" in info["xet"]["refreshUrl"], info
    listing = {e["path"]: e for e in xet_run["listing"]}
    for path in LFS_PATHS:
        assert listing[path]["xetHash"] == downloads[path]["info"]["xet"]["hash"], (listing[path], downloads[path])
    assert listing["large.bin"]["xetHash"] == head["x-xet-hash"]
    check_listing_and_bytes(xet_run, {**{p: "XetBlob" for p in LFS_PATHS}, **{p: "WebBlob" for p in REGULAR_PATHS}})
    for path in LFS_PATHS:  # what Xet uploaded is served over plain HTTP too (git-lfs, HF_HUB_DISABLE_XET=1)
        f = next(f for f in xet_run["files"] if f["path"] == path)
        assert downloads[path]["http"]["sha256"] == f["sha256"], (path, downloads[path])
    r = routes(xet_run, "download")
    assert route_count(xet_run, "download", "GET cas:reconstructions v2", "200") >= len(LFS_PATHS), r
    assert route_count(xet_run, "download", "GET hub:xet-read-token", "200") >= 1, r


def test_js_xet_v2_reconstruction(hub, xet_run):
    """The JS client reads reconstructions only through V2 (it rewrites the xet-reconstruction-info link's
    /v1/reconstructions/ to /v2/reconstructions/; no V1 fallback) and fetches each entry of `xorbs` with
    the entry's ranges in one Range header (several ranges need a multipart/byteranges answer)."""
    head = xet_advertised_or_skip(hub, xet_run)
    links = requests.head(f"{hub.endpoint}/{xet_run['repo']}/resolve/main/large.bin",
                          headers=bearer(hub.token("alice")), timeout=30).links
    assert "xet-auth" in links and "xet-reconstruction-info" in links, f"Link rels on HEAD /resolve: {links}"
    assert "/v1/reconstructions/" in links["xet-reconstruction-info"]["url"], links
    tok = requests.get(links["xet-auth"]["url"], headers=bearer(hub.token("alice")), timeout=30)
    assert tok.status_code == 200, (tok.status_code, tok.text[:300])
    body = tok.json()
    assert {"accessToken", "casUrl", "exp"} <= set(body), body
    size = next(f["size"] for f in xet_run["files"] if f["path"] == "large.bin")
    url = links["xet-reconstruction-info"]["url"].replace("/v1/reconstructions/", "/v2/reconstructions/")
    r = requests.get(url, headers={"authorization": f"Bearer {body['accessToken']}", "Range": f"bytes=0-{size - 1}"},
                     timeout=60)
    assert r.status_code == 200, f"GET {url} -> {r.status_code} {r.text[:300]} (JS has no V1 fallback)"
    rec = r.json()
    assert rec["terms"] and "xorbs" in rec, rec.keys()
    assert sum(t["unpacked_length"] for t in rec["terms"]) - rec["offset_into_first_range"] >= size
    for t in rec["terms"]:
        entries = rec["xorbs"].get(t["hash"])
        assert entries, f"no xorbs entry for term {t}"
        assert any(rg["chunks"]["start"] <= t["range"]["start"] and rg["chunks"]["end"] >= t["range"]["end"]
                   for e in entries for rg in e["ranges"]), (t, entries)
        for e in entries:
            # One Range header per entry: the data URL must answer exactly those bytes without a bearer.
            rg = e["ranges"][0]
            d = requests.get(e["url"], headers={"Range": f"bytes={rg['bytes']['start']}-{rg['bytes']['end']}"},
                             timeout=60)
            assert d.status_code in (200, 206), (e["url"], d.status_code)
            assert len(d.content) == rg["bytes"]["end"] - rg["bytes"]["start"] + 1
            if len(e["ranges"]) > 1:
                multi = ",".join(f"{x['bytes']['start']}-{x['bytes']['end']}" for x in e["ranges"])
                m = requests.get(e["url"], headers={"Range": f"bytes={multi}"}, timeout=60)
                assert "multipart/byteranges" in m.headers.get("content-type", ""), (
                    f"an entry with {len(e['ranges'])} ranges is fetched as one multi-range request: {m.headers}")

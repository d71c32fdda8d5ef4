"""huggingface_hub 0.36 (the last 0.x line, in .venv-hf036) against modelhub.

0.36 chooses Xet per upload batch through the LFS batch API: it offers
`"transfers": ["basic", "multipart", "xet"]` (only "basic", "multipart" with HF_HUB_DISABLE_XET=1) and
uploads through hf_xet when the answer says `"transfer": "xet"`, after fetching a CAS token from
`GET /api/models/{repo}/xet-write-token/{rev}` (read from the X-Xet-* response headers). Downloads take
the Xet path when HEAD /resolve carries X-Xet-Hash. tests/hf036/roundtrip.py runs upload_folder (a
24 MiB random file, an 11 MiB file of one repeated 1 MiB block, a 2 KiB *.bin, three text files),
list_repo_tree, hf_hub_download of each file and snapshot_download, and prints JSON; the tests assert.

Runs: once with HF_HUB_DISABLE_XET=1 (plain LFS), once with the client's defaults. The Xet-specific
tests skip only when the server advertises no Xet (batch answer not "xet" and no X-Xet-Hash on HEAD
/resolve); once it does, they must pass.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import requests

from _hub import REPO_ROOT
from _util import bearer, xet_not_advertised

VENV_PY = REPO_ROOT / ".venv-hf036" / "bin" / "python"
SCRIPT = REPO_ROOT / "tests" / "hf036" / "roundtrip.py"
LFS_PATHS = {"small.bin", "weights/large.bin", "repeated.bin"}
REGULAR_PATHS = {"README.md", "config.json", "nested/notes.txt"}
HEX40 = re.compile(r"^[0-9a-f]{40}$")


OLD_HF_XET = REPO_ROOT / ".venv-hf036" / "hf_xet-1.1.3"


def run_hf036(hub, workdir: Path, repo_id: str, disable_xet: bool, pythonpath: str = "") -> dict:
    if not VENV_PY.exists():
        pytest.fail(f"{VENV_PY} is missing: run scripts/install-deps.sh", pytrace=False)
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env.pop("HF_HUB_DISABLE_XET", None)
    if disable_xet:
        env["HF_HUB_DISABLE_XET"] = "1"
    hf_home = workdir / "hf_home"
    env.update({"HF_ENDPOINT": hub.endpoint, "HF_TOKEN": hub.token("alice"), "HF_HOME": str(hf_home),
                "HF_HUB_CACHE": str(hf_home / "hub"), "HF_XET_CACHE": str(hf_home / "xet"),
                "PYTHONPATH": pythonpath})
    cp = subprocess.run([str(VENV_PY), str(SCRIPT), "--repo", repo_id, "--workdir", str(workdir)],
                        env=env, capture_output=True, text=True, timeout=420)
    lines = [ln for ln in cp.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        pytest.fail(f"roundtrip.py printed no JSON (exit {cp.returncode})\nstdout: {cp.stdout[-2000:]}\n"
                    f"stderr: {cp.stderr[-4000:]}", pytrace=False)
    result = json.loads(lines[-1])
    result["_stderr"] = cp.stderr[-4000:]
    return result


def require_ok(result: dict) -> None:
    if result.get("ok"):
        return
    err = result.get("error", {})
    reqs = "\n".join(f"  {r['method']} {r['url']} -> {r['status']}" for r in result.get("lastRequests", []))
    pytest.fail(f"huggingface_hub {result['versions'].get('huggingface_hub')} failed in phase "
                f"{result.get('phase')!r}: {err.get('type')}: {err.get('message')}\nlast requests (the library's "
                f"session; hf_xet's CAS calls are in the server log):\n{reqs}\n{err.get('traceback', '')}\n"
                f"stderr: {result.get('_stderr', '')[-2000:]}", pytrace=False)


def count(result: dict, phase: str, key: str, status: str | None = None) -> int:
    r = result[phase]["routes"].get(key)
    if r is None:
        return 0
    return r["count"] if status is None else r["statuses"].get(status, 0)


def check_bytes(result: dict) -> None:
    files = {f["path"]: f for f in result["files"]}
    assert set(files) == LFS_PATHS | REGULAR_PATHS
    downloads = {d["path"]: d for d in result["downloads"]}
    for path, f in files.items():
        assert downloads[path]["size"] == f["size"], (path, downloads[path], f)
        assert downloads[path]["sha256"] == f["sha256"], f"hf_hub_download of {path}: bytes differ"
    snap = result["snapshot"]["files"]
    assert set(snap) == set(files) | {".gitattributes"}, sorted(snap)
    for path, f in files.items():
        assert snap[path] == f["sha256"], f"snapshot_download of {path}: bytes differ"
    listing = {e["path"]: e for e in result["listing"]}
    assert {"nested", "weights"} <= {p for p, e in listing.items() if e["type"] == "directory"}
    for path, f in files.items():
        e = listing[path]
        assert e["size"] == f["size"], (path, e)
        if path in LFS_PATHS:
            assert e["lfs"] and e["lfs"]["sha256"] == f["sha256"], (path, e)
        else:
            assert e["lfs"] is None, (path, e)


@pytest.fixture(scope="module")
def lfs_run(hub, tmp_path_factory):
    return run_hf036(hub, tmp_path_factory.mktemp("hf036-lfs"), hub.repo_id("hf036-lfs"), disable_xet=True)


@pytest.fixture(scope="module")
def default_run(hub, tmp_path_factory):
    return run_hf036(hub, tmp_path_factory.mktemp("hf036-xet"), hub.repo_id("hf036-xet"), disable_xet=False)


def test_hf036_lfs_path(lfs_run):
    require_ok(lfs_run)
    assert lfs_run["versions"]["huggingface_hub"].startswith("0.36."), lfs_run["versions"]
    assert lfs_run["xetAvailable"] is False  # HF_HUB_DISABLE_XET=1
    batch = lfs_run["upload"]["lfsBatch"]
    assert len(batch) == 1 and batch[0]["status"] == 200, batch
    req = batch[0]["request"]
    assert req["transfers"] == ["basic", "multipart"] and req["hash_algo"] == "sha256", req
    assert req["ref"] == {"name": "main"}, req
    assert {o["oid"] for o in req["objects"]} == {f["sha256"] for f in lfs_run["files"] if f["path"] in LFS_PATHS}
    assert batch[0]["response"]["transfer"] in ("basic", "multipart"), batch[0]["response"]
    assert count(lfs_run, "upload", "PUT lfs:upload href", "200") >= len(LFS_PATHS), lfs_run["upload"]["routes"]
    assert not [k for k in lfs_run["upload"]["routes"] if "xet" in k], lfs_run["upload"]["routes"]
    assert HEX40.match(lfs_run["upload"]["commit"])
    check_bytes(lfs_run)
    # Plain HTTP downloads: HEAD + GET on /resolve, no Xet token.
    assert count(lfs_run, "download", "GET hub:resolve", "200") == len(lfs_run["files"]), lfs_run["download"]
    assert not [k for k in lfs_run["download"]["routes"] if "xet" in k], lfs_run["download"]["routes"]


def test_hf036_default_env_roundtrip(default_run):
    """With hf_xet installed and Xet not disabled, 0.36 offers "xet"; the bytes must round-trip either way."""
    require_ok(default_run)
    assert default_run["xetAvailable"] is True, default_run["versions"]
    req = default_run["upload"]["lfsBatch"][0]["request"]
    assert req["transfers"] == ["basic", "multipart", "xet"], req
    assert default_run["upload"]["lfsBatch"][0]["response"].get("transfer") in ("basic", "multipart", "xet")
    check_bytes(default_run)


def skip_unless_xet(hub, result: dict) -> dict:
    require_ok(result)
    reason, head = xet_not_advertised(hub.endpoint, result["repo"], "weights/large.bin", hub.token("alice"),
                                      result["upload"]["lfsBatch"][0]["response"].get("transfer"))
    if reason:
        pytest.skip(reason)
    return head


def test_hf036_xet_upload(hub, default_run):
    skip_unless_xet(hub, default_run)
    transfer = default_run["upload"]["lfsBatch"][0]["response"].get("transfer")
    assert transfer == "xet", (f"server advertises Xet on /resolve but answered 0.36's LFS batch "
                               f"(transfers [basic, multipart, xet]) with transfer={transfer!r}")
    routes = default_run["upload"]["routes"]
    assert count(default_run, "upload", "GET hub:xet-write-token", "200") >= 1, routes
    for hdrs in default_run["upload"]["tokenResponses"]:
        names = {k.lower() for k in hdrs}
        assert {"x-xet-cas-url", "x-xet-access-token", "x-xet-token-expiration"} <= names, hdrs
    assert "PUT lfs:upload href" not in routes, f"Xet negotiated but files went through LFS PUT: {routes}"
    # What hf_xet uploaded must be served over plain HTTP too (git-lfs, HF_HUB_DISABLE_XET=1 clients).
    import hashlib
    for f in default_run["files"]:
        if f["path"] not in LFS_PATHS:
            continue
        h = hashlib.sha256()
        with requests.get(f"{hub.endpoint}/{default_run['repo']}/resolve/main/{f['path']}",
                          headers=bearer(hub.token("alice")), stream=True, timeout=120) as r:
            assert r.status_code == 200, (f["path"], r.status_code, r.headers)
            for block in r.iter_content(1 << 20):
                h.update(block)
        assert h.hexdigest() == f["sha256"], f"plain GET of Xet-uploaded {f['path']}: bytes differ"


def test_hf036_xet_download(hub, default_run):
    head = skip_unless_xet(hub, default_run)
    assert head["x-xet-hash"], f"no X-Xet-Hash on HEAD /resolve of an LFS file: {head}"
    assert "xet-auth" in (head["link"] or "") or head["x-xet-refresh-route"], head
    routes = default_run["download"]["routes"]
    assert count(default_run, "download", "GET hub:xet-read-token", "200") >= 1, routes
    # LFS files came through hf_xet (no GET /resolve for them); small git files still use GET /resolve.
    assert count(default_run, "download", "GET hub:resolve") <= len(REGULAR_PATHS), routes
    check_bytes(default_run)


def test_cas_statuses_hf_xet_falls_back_on(hub, default_run):
    """hf_xet 1.8.0 (in both venvs) tries newer CAS routes first and falls back only on some statuses:
    POST /v1/xorb-grants/… only on 404 (405/501/400 abort the upload), POST /v2/shards and
    GET /v2/reconstructions on 404 or 501 (405 aborts). See docs/protocols/xet-clients.md §4."""
    skip_unless_xet(hub, default_run)
    r = requests.get(f"{hub.endpoint}/api/models/{default_run['repo']}/xet-write-token/main",
                     headers=bearer(hub.token("alice")), timeout=30)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    cas, token = r.headers.get("X-Xet-Cas-Url"), r.headers.get("X-Xet-Access-Token")
    assert cas and token, dict(r.headers)
    auth = {"authorization": f"Bearer {token}"}
    unknown = os.urandom(32).hex()
    g = requests.post(f"{cas}/v1/xorb-grants/default/{unknown}", headers=auth, timeout=30,
                      json={"length": 1000, "checksum": {"algo": "crc64nvme", "value": "12345"}})
    assert g.status_code == 404, f"POST /v1/xorb-grants must be 404 for hf_xet to fall back: {g.status_code} {g.text[:200]}"
    s = requests.post(f"{cas}/v2/shards", headers=auth, data=b"", timeout=30)
    assert s.status_code != 405, f"POST /v2/shards answered 405: hf_xet aborts instead of using /v1/shards"
    rec = requests.get(f"{cas}/v2/reconstructions/{unknown}", headers={**auth, "Range": "bytes=0-0"}, timeout=30)
    assert rec.status_code in (404, 501), f"GET /v2/reconstructions of an unknown hash: {rec.status_code}"


@pytest.fixture(scope="module")
def old_xet_run(hub, tmp_path_factory):
    if not (OLD_HF_XET / "hf_xet").is_dir():
        pytest.fail(f"{OLD_HF_XET} is missing: run scripts/install-deps.sh", pytrace=False)
    return run_hf036(hub, tmp_path_factory.mktemp("hf036-xet113"), hub.repo_id("hf036-xet113"), disable_xet=False,
                     pythonpath=str(OLD_HF_XET))


def test_hf_xet_1_1_3_uploads_footers_and_full_shards(hub, old_xet_run):
    """hf_xet 1.1.3 (June 2025) still appends the xorb footer to every xorb it uploads and sends full
    shards (lookup tables and footer); the CAS accepts both forms and serves the files back."""
    require_ok(old_xet_run)
    assert old_xet_run["versions"]["hf_xet"] == "1.1.3", old_xet_run["versions"]
    assert old_xet_run["upload"]["lfsBatch"][0]["response"].get("transfer") == "xet"
    assert "PUT lfs:upload href" not in old_xet_run["upload"]["routes"], old_xet_run["upload"]["routes"]
    check_bytes(old_xet_run)
    # It speaks the unversioned API of mid-2025 (POST /xorb/default/{hash}, /shard/default/{hash},
    # GET /reconstruction/{hash}), which the CAS maps onto its v1 routes.
    log = hub.log_text()
    for route in ('"POST /api/cas/xorb/default/', '/api/cas/shard/default/', '"GET /api/cas/reconstruction/'):
        assert re.search(re.escape(route) + r'[0-9a-f]{64}[^"]*" 200', log), f"no {route}… 200 in the server log"

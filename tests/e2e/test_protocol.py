"""Wire details the clients depend on (shared/reference/hub-api.md §0–§5), checked with raw HTTP and with
huggingface_hub where it exercises them: encodings of revisions and paths, pagination, preupload, LFS batch
download, date format, response shapes, and that nothing Xet leaks out."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from huggingface_hub import CommitOperationAdd, hf_hub_download

from _util import b64, bearer, commit_raw, describe, ndjson, sha256_bytes

DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LFS_JSON = "application/vnd.git-lfs+json"


@pytest.fixture(scope="module")
def repo(hub, api):
    rid = hub.repo_id("proto")
    api.create_repo(rid)
    files = {
        "dir with space/ü nicode.txt": b"unicode path\n",
        "dir/sub/deep.txt": b"deep\n",
        "odd/a#b?c%d&e=f+g.txt": b"odd characters\n",
        "empty.txt": b"",
        "model.safetensors": os.urandom(4096),
    }
    c = api.create_commit(rid, [CommitOperationAdd(p, d) for p, d in files.items()], commit_message="proto files")
    api.create_branch(rid, branch="feature/x", revision=c.oid)
    c2 = api.upload_file(path_or_fileobj=b"on a slashed branch\n", path_in_repo="dir/slashed.txt", repo_id=rid,
                         revision="feature/x", commit_message="slashed")
    return rid, files, c.oid, c2.oid


def test_create_conflict_returns_json_url(hub, repo):
    rid, *_ = repo
    ns, name = rid.split("/")
    r = requests.post(f"{hub.endpoint}/api/repos/create", json={"name": name, "organization": ns, "type": "model"},
                      headers=bearer(hub.token("alice")), timeout=30)
    assert r.status_code == 409, describe(r)
    assert r.json().get("url") == f"{hub.endpoint}/{rid}", describe(r)


def test_unicode_space_and_empty_paths(hub, repo, fresh_cache):
    rid, files, c1, _ = repo
    for name, data in files.items():
        assert Path(hf_hub_download(rid, name, cache_dir=fresh_cache)).read_bytes() == data, name
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/main/{quote('dir with space/ü nicode.txt')}", timeout=30)
    assert r.status_code == 200 and r.content == files["dir with space/ü nicode.txt"], describe(r)
    h = requests.head(f"{hub.endpoint}/{rid}/resolve/main/empty.txt", timeout=30)
    assert h.status_code == 200, describe(h)
    assert (h.headers.get("X-Linked-Size") or h.headers.get("Content-Length")) == "0", describe(h)


def test_slashed_branch_encoded_and_raw(hub, api, repo, fresh_cache):
    rid, _, c1, c2 = repo
    # Py: %2F-encoded revision everywhere
    assert Path(hf_hub_download(rid, "dir/slashed.txt", revision="feature/x", cache_dir=fresh_cache)).read_bytes() \
        == b"on a slashed branch\n"
    assert api.model_info(rid, revision="feature/x").sha == c2
    assert "dir/slashed.txt" in api.list_repo_files(rid, revision="feature/x")
    # JS: raw slashes in tree URLs (longest ref prefix wins)
    r = requests.get(f"{hub.endpoint}/api/models/{rid}/tree/feature/x/dir", timeout=30)
    assert r.status_code == 200, describe(r)
    assert "dir/slashed.txt" in [e["path"] for e in r.json()], r.text
    # Py: tree path fully encoded
    r = requests.get(f"{hub.endpoint}/api/models/{rid}/tree/main/{quote('dir/sub', safe='')}", timeout=30)
    assert r.status_code == 200 and [e["path"] for e in r.json()] == ["dir/sub/deep.txt"], describe(r)


def test_revision_head_and_short_sha(hub, repo):
    rid, _, c1, _ = repo
    r = requests.get(f"{hub.endpoint}/api/models/{rid}/revision/HEAD", timeout=30)
    assert r.status_code == 200 and r.json()["sha"] == c1, describe(r)
    r = requests.get(f"{hub.endpoint}/api/models/{rid}/revision/{c1[:7]}", timeout=30)
    assert r.status_code == 200 and r.json()["sha"] == c1, describe(r)


def test_repo_info_shape_and_dates(hub, repo):
    rid, *_ = repo
    r = requests.get(f"{hub.endpoint}/api/models/{rid}", timeout=30)
    info = r.json()
    assert info["id"] == rid and info.get("_id") and info["private"] is False, info
    for key in ("lastModified", "createdAt"):
        assert DATE.match(info.get(key) or ""), f"{key}={info.get(key)!r} is not YYYY-MM-DDTHH:MM:SS.mmmZ"
    r = requests.get(f"{hub.endpoint}/api/models/{rid}/commits/main", timeout=30)
    for c in r.json():
        assert DATE.match(c["date"]), c
    assert r.headers.get("X-Total-Count") == str(len(r.json())), f"JS countCommits reads X-Total-Count: {describe(r)}"
    r = requests.get(f"{hub.endpoint}/api/models/{rid}/tree/main?expand=true", timeout=30)
    for e in r.json():
        if e["type"] == "file":
            assert DATE.match(e["lastCommit"]["date"]), e


def test_expand_bracket_and_boolean_spellings(hub, repo):
    rid, *_ = repo
    r = requests.get(f"{hub.endpoint}/api/models/{rid}/commits/main?expand[]=formatted", timeout=30)
    assert r.status_code == 200, describe(r)
    expected = None
    for spelling in ("true", "True", "1"):
        r = requests.get(f"{hub.endpoint}/api/models/{rid}/tree/main?recursive={spelling}", timeout=30)
        assert r.status_code == 200, describe(r)
        paths = sorted(e["path"] for e in r.json())
        assert "dir/sub/deep.txt" in paths, f"recursive={spelling} not understood"
        expected = expected or paths
        assert paths == expected


def test_paths_info_form_and_json(hub, repo):
    rid, files, *_ = repo
    url = f"{hub.endpoint}/api/models/{rid}/paths-info/main"
    form = requests.post(url, data=[("paths", "dir/sub/deep.txt"), ("paths", "model.safetensors"),
                                    ("paths", "missing.txt"), ("expand", "true")], timeout=30)
    js = requests.post(url, json={"paths": ["dir/sub/deep.txt", "model.safetensors", "missing.txt"],
                                  "expand": True}, timeout=30)
    for r in (form, js):
        assert r.status_code == 200, describe(r)
        by_path = {e["path"]: e for e in r.json()}
        assert set(by_path) == {"dir/sub/deep.txt", "model.safetensors"}, r.text
        st = by_path["model.safetensors"]
        assert st["size"] == 4096 and st["lfs"]["oid"] == sha256_bytes(files["model.safetensors"]), st
        assert st.get("lastCommit", {}).get("id"), f"expand=true should add lastCommit: {st}"


def test_tree_pagination_many_files(hub, api):
    rid = hub.repo_id("bigtree")
    api.create_repo(rid)
    n = 1234
    lines = [{"key": "header", "value": {"summary": "many files"}}]
    lines += [{"key": "file", "value": {"path": f"many/f{i:05d}.txt", "content": b64(b"%d\n" % i),
                                        "encoding": "base64"}} for i in range(n)]
    r = commit_raw(hub.endpoint, rid, hub.token("alice"), ndjson(*lines))
    assert r.status_code == 200, describe(r)
    files = api.list_repo_files(rid)
    assert len([f for f in files if f.startswith("many/")]) == n
    first = requests.get(f"{hub.endpoint}/api/models/{rid}/tree/main/many", timeout=30)
    assert first.status_code == 200, describe(first)
    if len(first.json()) < n:
        nxt = first.links.get("next", {}).get("url", "")
        assert nxt.startswith(hub.endpoint + "/"), f"partial page without absolute Link: {first.headers}"
    commits = requests.get(f"{hub.endpoint}/api/models/{rid}/commits/main?limit=1", timeout=30)
    assert commits.status_code == 200 and len(commits.json()) == 1, describe(commits)


def test_preupload_modes(hub, repo):
    rid, *_ = repo
    text = b"hello\n"
    binary = bytes(range(256))
    body = {"files": [
        {"path": "notes.txt", "size": len(text), "sample": b64(text)},
        {"path": "weights.bin", "size": 100, "sample": b64(b"x" * 100)},          # *.bin rule
        {"path": "raw.dat", "size": 256, "sample": b64(binary)},                  # binary sample
        {"path": "huge.txt", "size": 20 << 20, "sample": b64(b"a" * 512)},       # >= 10 MB
        {"path": "ignored/x.txt", "size": 3, "sample": b64(b"x\n")},
    ], "gitIgnore": "ignored/\n"}
    r = requests.post(f"{hub.endpoint}/api/models/{rid}/preupload/main", json=body,
                      headers=bearer(hub.token("alice")), timeout=30)
    assert r.status_code == 200, describe(r)
    got = {f["path"]: f for f in r.json()["files"]}
    assert set(got) == {f["path"] for f in body["files"]}
    for f in got.values():
        assert isinstance(f.get("shouldIgnore"), bool), f
    assert got["notes.txt"]["uploadMode"] == "regular"
    assert got["weights.bin"]["uploadMode"] == "lfs"
    assert got["raw.dat"]["uploadMode"] == "lfs"
    assert got["huge.txt"]["uploadMode"] == "lfs"
    assert got["ignored/x.txt"]["shouldIgnore"] is True
    assert got["notes.txt"]["shouldIgnore"] is False


def test_validate_yaml(hub):
    r = requests.post(f"{hub.endpoint}/api/validate-yaml",
                      json={"content": "---\nlicense: mit\n---\n# card\n", "repoType": "model"},
                      headers=bearer(hub.token("alice")), timeout=30)
    assert r.status_code == 200, describe(r)
    body = r.json()
    assert isinstance(body.get("errors", []), list) and isinstance(body.get("warnings", []), list), body


def test_lfs_batch_download_for_git_lfs(hub, repo):
    rid, files, *_ = repo
    data = files["model.safetensors"]
    oid = sha256_bytes(data)
    r = requests.post(f"{hub.endpoint}/{rid}.git/info/lfs/objects/batch",
                      json={"operation": "download", "transfers": ["basic"], "objects": [{"oid": oid, "size": len(data)}],
                            "ref": {"name": "refs/heads/main"}},
                      headers={"accept": LFS_JSON, "content-type": LFS_JSON}, timeout=30)
    assert r.status_code == 200, describe(r)
    assert r.headers.get("content-type", "").startswith(LFS_JSON), describe(r)
    obj = r.json()["objects"][0]
    action = obj["actions"]["download"]
    got = requests.get(action["href"], headers=action.get("header") or {}, timeout=30)
    assert got.status_code == 200 and got.content == data, describe(got)
    missing = "0" * 64
    r = requests.post(f"{hub.endpoint}/{rid}.git/info/lfs/objects/batch",
                      json={"operation": "download", "objects": [{"oid": missing, "size": 5}]},
                      headers={"accept": LFS_JSON, "content-type": LFS_JSON}, timeout=30)
    assert r.status_code == 200, describe(r)
    assert r.json()["objects"][0].get("error", {}).get("code") == 404, r.text


def test_lfs_locks_verify(hub, repo):
    """git-lfs probes locks/verify on push: either a well-formed locking answer or 404/501 (unsupported)."""
    rid, *_ = repo
    r = requests.post(f"{hub.endpoint}/{rid}.git/info/lfs/locks/verify", json={"ref": {"name": "refs/heads/main"}},
                      headers={**bearer(hub.token("alice")), "accept": LFS_JSON, "content-type": LFS_JSON},
                      timeout=30)
    if r.status_code in (404, 501):
        return
    assert r.status_code == 200, describe(r)
    assert r.headers.get("content-type", "").startswith(LFS_JSON), describe(r)
    body = r.json()
    assert isinstance(body.get("ours"), list) and isinstance(body.get("theirs"), list), body


def test_js_fileinfo_accept_gets_plain_bytes(hub, repo):
    """@huggingface/hub asks for application/vnd.xet-fileinfo+json; without that content type in the
    answer it reads the bytes as usual (the Xet headers are there for the Python client)."""
    rid, *_ = repo
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/main/model.safetensors",
                     headers={"Accept": "application/vnd.xet-fileinfo+json, */*", "Range": "bytes=0-0"}, timeout=30)
    assert r.status_code == 206 and "xet" not in r.headers.get("content-type", ""), describe(r)
    assert r.headers.get("Content-Range") == "bytes 0-0/4096", describe(r)


def test_background_calls_answer_fast(hub):
    for method, path in (("GET", "/api/agent-harnesses"), ("HEAD", "/api/telemetry/test")):
        r = requests.request(method, hub.endpoint + path, timeout=5)
        assert r.status_code < 500, describe(r)


def test_raw_head_for_js_file_exists(hub, repo):
    rid, files, *_ = repo
    r = requests.head(f"{hub.endpoint}/{rid}/raw/main/dir/sub/deep.txt", timeout=30)
    assert r.status_code == 200, describe(r)
    r = requests.head(f"{hub.endpoint}/{rid}/raw/main/dir/sub/none.txt", timeout=30)
    assert r.status_code == 404 and r.headers.get("X-Error-Code") == "EntryNotFound", describe(r)
    r = requests.get(f"{hub.endpoint}/datasets/{rid}/raw/main/dir/sub/deep.txt", timeout=30)
    assert r.status_code == 404 and r.headers.get("X-Error-Code") == "RepoNotFound", \
        f"a model repo must not be reachable under /datasets/: {describe(r)}"

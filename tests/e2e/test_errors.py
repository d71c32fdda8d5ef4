"""Bad input and refused access, with raw HTTP: one test per case. Each asserts the status, X-Error-Code where
the clients depend on it, a JSON {"error": ...} body, and that nothing changed (the branch head and files)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
import requests

from _util import (assert_hf_error, b64, bearer, commit_raw, describe, head_sha, ndjson, sha256_bytes)

LFS_JSON = "application/vnd.git-lfs+json"
HEADER = {"key": "header", "value": {"summary": "bad commit", "description": ""}}
GOOD_FILE = {"key": "file", "value": {"path": "good.txt", "content": b64(b"fine\n"), "encoding": "base64"}}


@pytest.fixture(scope="module")
def target(hub, api):
    """alice's public repo with one file; tests check that its main head never moves."""
    rid = hub.repo_id("errors")
    api.create_repo(rid)
    c = api.upload_file(path_or_fileobj=b"0123456789abcdef" * 64, path_in_repo="data.txt", repo_id=rid)
    return rid, c.oid


@pytest.fixture
def unchanged(hub, target):
    """Yields (repo_id, head); after the test asserts the head is still `head` and good.txt never appeared."""
    rid, head = target
    yield rid, head
    assert head_sha(hub.endpoint, rid, hub.token("alice")) == head, "a failed request moved the branch"
    r = requests.head(f"{hub.endpoint}/{rid}/resolve/main/good.txt", headers=bearer(hub.token("alice")),
                      timeout=30)
    assert r.status_code == 404, f"part of a failed commit was applied: {describe(r)}"


def _alice(hub):
    return hub.token("alice")


def _no_stray_files(hub, name: str) -> None:
    """Nothing named `name` was written anywhere under the test's temp tree (catches path escapes)."""
    hits = [str(p) for p in hub.tmp.parent.rglob(name)]
    hits += [str(p) for p in (Path("/") / name, Path("/tmp") / name, Path.cwd() / name) if p.exists()]
    assert not hits, f"path escape: {hits}"


# ---- repo ids ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a--b", "../x", "..", "x" * 97, "-lead", "trail-", "name.git", "sp ace",
                                  "semi;colon", ""], ids=["double-dash", "dotdot-slash", "dotdot", "too-long",
                                                          "leading-dash", "trailing-dash", "dot-git", "space",
                                                          "semicolon", "empty"])
def test_create_repo_invalid_name(hub, api, name):
    before = sorted(m.id for m in api.list_models(author="alice"))
    r = requests.post(f"{hub.endpoint}/api/repos/create", json={"name": name, "type": "model"},
                      headers=bearer(_alice(hub)), timeout=30)
    assert_hf_error(r, (400, 422))
    assert sorted(m.id for m in api.list_models(author="alice")) == before


def test_create_repo_invalid_type(hub):
    r = requests.post(f"{hub.endpoint}/api/repos/create", json={"name": f"t-{uuid.uuid4().hex[:8]}",
                                                               "type": "banana"},
                      headers=bearer(_alice(hub)), timeout=30)
    assert_hf_error(r, (400, 422))


def test_create_repo_malformed_json(hub):
    r = requests.post(f"{hub.endpoint}/api/repos/create", data=b'{"name": "x", "type": ',
                      headers={**bearer(_alice(hub)), "content-type": "application/json"}, timeout=30)
    assert_hf_error(r, (400, 422))


# ---- commit paths -----------------------------------------------------------------------------------

BAD_PATHS = {
    "dotdot": "../escape-dotdot.txt",
    "dotdot-inner": "a/../../escape-inner.txt",
    "dotdot-only": "a/..",
    "leading-slash": "/abs-path.txt",
    "backslash": "dir\\file.txt",
    "backslash-dotdot": "..\\escape-bs.txt",
    "dot-git": ".git/config",
    "dot-git-inner": "sub/.git/hooks/post-checkout",
    "nul": "nul\x00byte.txt",
    "too-long": "d/" + "x" * 1030,
    "empty": "",
}


@pytest.mark.parametrize("path", list(BAD_PATHS.values()), ids=list(BAD_PATHS))
def test_commit_invalid_path(hub, unchanged, path):
    rid, _ = unchanged
    bad = {"key": "file", "value": {"path": path, "content": b64(b"evil\n"), "encoding": "base64"}}
    r = commit_raw(hub.endpoint, rid, _alice(hub), ndjson(HEADER, GOOD_FILE, bad))
    assert_hf_error(r, (400, 422))
    for name in ("escape-dotdot.txt", "escape-inner.txt", "escape-bs.txt", "abs-path.txt"):
        _no_stray_files(hub, name)


def test_commit_invalid_lfs_path(hub, unchanged, target):
    rid, _ = unchanged
    # an LFS entry with a bad path is refused before the object is even looked up
    lfs = {"key": "lfsFile", "value": {"path": "../x.bin", "algo": "sha256", "oid": "0" * 64, "size": 1}}
    r = commit_raw(hub.endpoint, rid, _alice(hub), ndjson(HEADER, GOOD_FILE, lfs))
    assert_hf_error(r, (400, 422))


# ---- commit body ------------------------------------------------------------------------------------

def test_commit_malformed_ndjson(hub, unchanged):
    rid, _ = unchanged
    body = ndjson(HEADER, GOOD_FILE) + b'{"key": "file", "value": {"path": "x.txt", "content": \n'
    assert_hf_error(commit_raw(hub.endpoint, rid, _alice(hub), body), (400, 422))


def test_commit_not_json_at_all(hub, unchanged):
    rid, _ = unchanged
    assert_hf_error(commit_raw(hub.endpoint, rid, _alice(hub), b"this is not json\n"), (400, 422))


def test_commit_empty_body(hub, unchanged):
    rid, _ = unchanged
    assert_hf_error(commit_raw(hub.endpoint, rid, _alice(hub), b""), (400, 422))


def test_commit_without_header_line(hub, unchanged):
    rid, _ = unchanged
    assert_hf_error(commit_raw(hub.endpoint, rid, _alice(hub), ndjson(GOOD_FILE)), (400, 422))


def test_commit_bad_base64(hub, unchanged):
    rid, _ = unchanged
    bad = {"key": "file", "value": {"path": "b64.txt", "content": "!!not*base64$$", "encoding": "base64"}}
    assert_hf_error(commit_raw(hub.endpoint, rid, _alice(hub), ndjson(HEADER, GOOD_FILE, bad)), (400, 422))


def test_commit_unknown_operation_key(hub, unchanged):
    rid, _ = unchanged
    bad = {"key": "renameFile", "value": {"path": "data.txt", "newPath": "moved.txt"}}
    assert_hf_error(commit_raw(hub.endpoint, rid, _alice(hub), ndjson(HEADER, GOOD_FILE, bad)), (400, 422))


def test_commit_value_wrong_type(hub, unchanged):
    rid, _ = unchanged
    bad = {"key": "file", "value": {"path": 42, "content": 7, "encoding": "base64"}}
    assert_hf_error(commit_raw(hub.endpoint, rid, _alice(hub), ndjson(HEADER, GOOD_FILE, bad)), (400, 422))


def test_commit_lfs_object_never_uploaded(hub, unchanged):
    rid, _ = unchanged
    data = os.urandom(1000)
    lfs = {"key": "lfsFile", "value": {"path": "ghost.bin", "algo": "sha256", "oid": sha256_bytes(data),
                                       "size": len(data)}}
    r = commit_raw(hub.endpoint, rid, _alice(hub), ndjson(HEADER, GOOD_FILE, lfs))
    assert_hf_error(r, (400, 404, 422))


def test_commit_delete_missing_file(hub, unchanged):
    rid, _ = unchanged
    bad = {"key": "deletedFile", "value": {"path": "never-existed.txt"}}
    r = commit_raw(hub.endpoint, rid, _alice(hub), ndjson(HEADER, GOOD_FILE, bad))
    assert_hf_error(r, (400, 404, 422))


def test_commit_bad_parent_commit(hub, unchanged):
    rid, head = unchanged
    stale = {"key": "header", "value": {"summary": "x", "parentCommit": "f" * 40}}
    r = commit_raw(hub.endpoint, rid, _alice(hub), ndjson(stale, GOOD_FILE))
    assert_hf_error(r, (400, 404, 409, 412, 422))


def test_commit_to_missing_branch(hub, unchanged):
    rid, _ = unchanged
    r = commit_raw(hub.endpoint, rid, _alice(hub), ndjson(HEADER, GOOD_FILE), revision="no-such-branch")
    assert_hf_error(r, 404, "RevisionNotFound")
    assert "no-such-branch" not in [b["name"] for b in requests.get(
        f"{hub.endpoint}/api/models/{rid}/refs", headers=bearer(_alice(hub)), timeout=30).json()["branches"]]


def test_commit_to_missing_repo(hub):
    r = commit_raw(hub.endpoint, f"alice/missing-{uuid.uuid4().hex[:8]}", _alice(hub), ndjson(HEADER, GOOD_FILE))
    assert_hf_error(r, 404, "RepoNotFound")


def test_preupload_malformed_json(hub, unchanged):
    rid, _ = unchanged
    r = requests.post(f"{hub.endpoint}/api/models/{rid}/preupload/main", data=b'{"files": [',
                      headers={**bearer(_alice(hub)), "content-type": "application/json"}, timeout=30)
    assert_hf_error(r, (400, 422))


# ---- LFS ----------------------------------------------------------------------------------------------

def _lfs_batch(hub, rid, objects, operation="upload", token=None):
    return requests.post(f"{hub.endpoint}/{rid}.git/info/lfs/objects/batch",
                         json={"operation": operation, "transfers": ["basic", "multipart"], "objects": objects,
                               "hash_algo": "sha256", "ref": {"name": "main"}},
                         headers={**bearer(token or _alice(hub)), "accept": LFS_JSON, "content-type": LFS_JSON},
                         timeout=60)


def test_lfs_batch_malformed_json(hub, unchanged):
    rid, _ = unchanged
    r = requests.post(f"{hub.endpoint}/{rid}.git/info/lfs/objects/batch", data=b'{"operation": "upload", ',
                      headers={**bearer(_alice(hub)), "accept": LFS_JSON, "content-type": LFS_JSON}, timeout=30)
    assert 400 <= r.status_code < 500 and r.status_code != 404, describe(r)
    body = r.json()
    assert body.get("message") or body.get("error"), describe(r)


def test_lfs_batch_invalid_oid(hub, unchanged):
    rid, _ = unchanged
    r = _lfs_batch(hub, rid, [{"oid": "../../etc/passwd", "size": 10}])
    if r.status_code == 200:  # per-object error is what the git-lfs spec prefers
        obj = r.json()["objects"][0]
        assert "error" in obj and "actions" not in obj, describe(r)
    else:
        assert r.status_code in (400, 422), describe(r)


def _upload_href(hub, rid, data: bytes):
    oid = sha256_bytes(data)
    r = _lfs_batch(hub, rid, [{"oid": oid, "size": len(data)}])
    assert r.status_code == 200, describe(r)
    body = r.json()
    obj = next(o for o in body["objects"] if o["oid"] == oid)
    assert "actions" in obj and "upload" in obj["actions"], f"server claims to have random bytes: {body}"
    return oid, obj["actions"]["upload"], body.get("transfer", "basic")


@pytest.mark.parametrize("mismatch", ["same-size-other-bytes", "shorter", "longer"])
def test_lfs_upload_bytes_do_not_match_oid(hub, unchanged, mismatch):
    rid, _ = unchanged
    data = os.urandom(200_000)
    oid, action, transfer = _upload_href(hub, rid, data)
    wrong = {"same-size-other-bytes": os.urandom(len(data)), "shorter": data[:-1], "longer": data + b"!"}[mismatch]
    header = action.get("header") or {}
    if transfer == "multipart" or "chunk_size" in header:
        chunk = int(header["chunk_size"])
        etags = []
        for i in range(1, len([k for k in header if k.isdigit()]) + 1):
            part = requests.put(header[str(i)], data=wrong[(i - 1) * chunk: i * chunk], timeout=60)
            etags.append({"partNumber": i, "etag": part.headers.get("ETag", "")})
        r = requests.post(action["href"], json={"oid": oid, "parts": etags},
                          headers={"accept": LFS_JSON, "content-type": LFS_JSON}, timeout=60)
    else:
        r = requests.put(action["href"], data=wrong, timeout=60)  # Py sends no headers on the basic PUT
    assert 400 <= r.status_code < 500, f"mismatched upload accepted: {describe(r)}"
    # the object must not count as uploaded: committing it fails, downloading it is impossible
    lfs = {"key": "lfsFile", "value": {"path": "mismatch.bin", "algo": "sha256", "oid": oid, "size": len(data)}}
    r = commit_raw(hub.endpoint, rid, _alice(hub), ndjson(HEADER, GOOD_FILE, lfs))
    assert_hf_error(r, (400, 404, 422))
    again = _lfs_batch(hub, rid, [{"oid": oid, "size": len(data)}]).json()["objects"][0]
    assert "actions" in again, "after a failed upload the server must ask for the object again"


def test_lfs_upload_href_tampered_signature(hub, unchanged):
    rid, _ = unchanged
    data = os.urandom(1000)
    oid, action, transfer = _upload_href(hub, rid, data)
    if transfer != "basic" or "?" not in action["href"]:
        pytest.skip(f"upload href is not a signed basic URL: transfer={transfer} href={action['href']}")
    href = action["href"]
    tampered = href[:-1] + ("0" if href[-1] != "0" else "1")
    r = requests.put(tampered, data=data, timeout=60)
    assert r.status_code in (401, 403), describe(r)


def test_lfs_batch_without_token(hub, unchanged):
    rid, _ = unchanged
    r = requests.post(f"{hub.endpoint}/{rid}.git/info/lfs/objects/batch",
                      json={"operation": "upload", "objects": [{"oid": "a" * 64, "size": 1}]},
                      headers={"accept": LFS_JSON, "content-type": LFS_JSON}, timeout=30)
    assert r.status_code == 401, describe(r)
    assert "LFS-Authenticate" in r.headers or "WWW-Authenticate" in r.headers, describe(r)


# ---- body limit ---------------------------------------------------------------------------------------

def test_body_over_limit(hub, tmp_path):
    from _hub import serve_help, start_hub

    help_text = serve_help()
    flag = next((f for f in ("--max-commit-bytes", "--max-body-bytes") if f in help_text), None)
    if flag is None:
        pytest.skip("this build's `modelhub serve` has no --max-commit-bytes/--max-body-bytes option")
    limited = start_hub(tmp_path / "limited", extra_args=(flag, str(1 << 20)))
    try:
        limited.create_user("alice", admin=True)
        token = limited.create_token("alice", "write", "limit")
        r = requests.post(f"{limited.endpoint}/api/repos/create", json={"name": "big", "type": "model"},
                          headers=bearer(token), timeout=30)
        assert r.status_code == 200, describe(r)
        before = head_sha(limited.endpoint, "alice/big", token)
        big = {"key": "file", "value": {"path": "big.txt", "content": b64(os.urandom(2 << 20)),
                                        "encoding": "base64"}}
        r = commit_raw(limited.endpoint, "alice/big", token, ndjson(HEADER, big))
        assert_hf_error(r, 413)
        assert head_sha(limited.endpoint, "alice/big", token) == before
        # a commit under the limit still works
        small = {"key": "file", "value": {"path": "small.txt", "content": b64(b"ok"), "encoding": "base64"}}
        assert commit_raw(limited.endpoint, "alice/big", token, ndjson(HEADER, small)).status_code == 200
        assert requests.get(f"{limited.endpoint}/health", timeout=10).status_code == 200
    finally:
        limited.stop()


def test_json_body_over_limit(hub, tmp_path):
    from _hub import serve_help, start_hub

    if "--max-json-bytes" not in serve_help():
        pytest.skip("this build's `modelhub serve` has no --max-json-bytes option")
    limited = start_hub(tmp_path / "limited-json", extra_args=("--max-json-bytes", "4096"))
    try:
        limited.create_user("alice", admin=True)
        token = limited.create_token("alice", "write", "limit")
        r = requests.post(f"{limited.endpoint}/api/repos/create",
                          json={"name": "big", "type": "model", "padding": "x" * 10000},
                          headers=bearer(token), timeout=30)
        assert_hf_error(r, 413)
        r = requests.get(f"{limited.endpoint}/api/models/alice/big", headers=bearer(token), timeout=30)
        assert_hf_error(r, 404, "RepoNotFound")
    finally:
        limited.stop()


# ---- downloads ------------------------------------------------------------------------------------------

def test_range_beyond_end(hub, target):
    rid, head = target
    size = 16 * 64
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/main/data.txt", headers={"Range": f"bytes={size + 10}-"},
                     timeout=30)
    assert_hf_error(r, 416)
    assert r.headers.get("Content-Range") == f"bytes */{size}", describe(r)


def test_range_malformed_is_ignored_or_refused(hub, target):
    rid, _ = target
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/main/data.txt", headers={"Range": "bytes=abc-def"},
                     timeout=30)
    # RFC 9110: an invalid Range header may be ignored (200 full body) or refused (416)
    assert r.status_code in (200, 416), describe(r)
    if r.status_code == 200:
        assert r.content == b"0123456789abcdef" * 64


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_unknown_revision(hub, target, method):
    rid, _ = target
    r = requests.request(method, f"{hub.endpoint}/{rid}/resolve/no-such-rev/data.txt", timeout=30)
    assert_hf_error(r, 404, "RevisionNotFound")


def test_unknown_revision_api(hub, target):
    rid, _ = target
    for url in (f"/api/models/{rid}/revision/no-such-rev", f"/api/models/{rid}/tree/no-such-rev",
                f"/api/models/{rid}/commits/no-such-rev", f"/api/models/{rid}/revision/{'0' * 40}"):
        r = requests.get(hub.endpoint + url, timeout=30)
        assert_hf_error(r, 404, "RevisionNotFound")


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_unknown_file(hub, target, method):
    rid, head = target
    r = requests.request(method, f"{hub.endpoint}/{rid}/resolve/main/missing.txt", timeout=30,
                         allow_redirects=False)
    assert_hf_error(r, 404, "EntryNotFound")
    assert r.headers.get("X-Repo-Commit") == head, describe(r)


def test_unknown_file_tree(hub, target):
    rid, _ = target
    r = requests.get(f"{hub.endpoint}/api/models/{rid}/tree/main/missing-dir", timeout=30)
    assert_hf_error(r, 404, "EntryNotFound")


def test_unknown_repo(hub):
    for url in (f"/api/models/alice/missing-{uuid.uuid4().hex[:6]}",
                f"/alice/missing-{uuid.uuid4().hex[:6]}/resolve/main/x.txt",
                f"/api/datasets/alice/missing-{uuid.uuid4().hex[:6]}/tree/main"):
        r = requests.get(hub.endpoint + url, headers=bearer(_alice(hub)), timeout=30)
        assert_hf_error(r, 404, "RepoNotFound")


# ---- auth ----------------------------------------------------------------------------------------------

def test_wrong_token(hub, unchanged):
    rid, _ = unchanged
    bogus = "hf_" + uuid.uuid4().hex
    r = requests.get(f"{hub.endpoint}/api/whoami-v2", headers=bearer(bogus), timeout=30)
    assert_hf_error(r, 401)
    r = commit_raw(hub.endpoint, rid, bogus, ndjson(HEADER, GOOD_FILE))
    assert_hf_error(r, 401)


def test_whoami_without_token(hub):
    assert_hf_error(requests.get(f"{hub.endpoint}/api/whoami-v2", timeout=30), 401)


def test_anonymous_write(hub, unchanged):
    rid, _ = unchanged
    assert_hf_error(commit_raw(hub.endpoint, rid, None, ndjson(HEADER, GOOD_FILE)), 401)
    r = requests.post(f"{hub.endpoint}/api/repos/create", json={"name": "anon", "type": "model"}, timeout=30)
    assert_hf_error(r, 401)


def test_revoked_token(hub, unchanged):
    rid, _ = unchanged
    name = f"to-revoke-{uuid.uuid4().hex[:6]}"
    token = hub.create_token("alice", "write", name)
    r = requests.get(f"{hub.endpoint}/api/whoami-v2", headers=bearer(token), timeout=30)
    assert r.status_code == 200 and r.json()["name"] == "alice", describe(r)
    hub.admin("token", "revoke", "alice", "--name", name)
    assert_hf_error(requests.get(f"{hub.endpoint}/api/whoami-v2", headers=bearer(token), timeout=30), 401)
    assert_hf_error(commit_raw(hub.endpoint, rid, token, ndjson(HEADER, GOOD_FILE)), 401)


def test_read_token_cannot_write(hub, unchanged):
    rid, _ = unchanged
    token = hub.create_token("alice", "read", f"ro-{uuid.uuid4().hex[:6]}")
    r = requests.get(f"{hub.endpoint}/api/whoami-v2", headers=bearer(token), timeout=30)
    assert r.status_code == 200, describe(r)
    assert r.json().get("auth", {}).get("accessToken", {}).get("role") == "read"
    assert_hf_error(commit_raw(hub.endpoint, rid, token, ndjson(HEADER, GOOD_FILE)), 403)
    r = requests.post(f"{hub.endpoint}/api/repos/create", json={"name": f"ro-{uuid.uuid4().hex[:6]}",
                                                               "type": "model"},
                      headers=bearer(token), timeout=30)
    assert_hf_error(r, 403)
    r = _lfs_batch(hub, rid, [{"oid": sha256_bytes(b"ro"), "size": 2}], token=token)
    assert r.status_code == 403, describe(r)
    r = requests.post(f"{hub.endpoint}/api/models/{rid}/branch/ro-branch", json={}, headers=bearer(token),
                      timeout=30)
    assert_hf_error(r, 403)
    # reading still works
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/main/data.txt", headers=bearer(token), timeout=30)
    assert r.status_code == 200, describe(r)


def test_bob_cannot_write_alice_public_repo(hub, unchanged):
    rid, _ = unchanged
    bob = hub.token("bob")
    assert_hf_error(commit_raw(hub.endpoint, rid, bob, ndjson(HEADER, GOOD_FILE)), 403)
    r = requests.put(f"{hub.endpoint}/api/models/{rid}/settings", json={"private": True}, headers=bearer(bob),
                     timeout=30)
    assert_hf_error(r, 403)
    r = requests.delete(f"{hub.endpoint}/api/repos/delete", json={"name": rid.split("/")[1],
                                                                 "organization": "alice", "type": "model"},
                        headers=bearer(bob), timeout=30)
    assert_hf_error(r, 403)
    r = _lfs_batch(hub, rid, [{"oid": sha256_bytes(b"bob"), "size": 3}], token=bob)
    assert r.status_code == 403, describe(r)


def test_bob_cannot_see_or_write_alice_private_repo(hub, api):
    rid = hub.repo_id("errors-private")
    api.create_repo(rid, private=True)
    head = head_sha(hub.endpoint, rid, _alice(hub))
    bob = hub.token("bob")
    r = commit_raw(hub.endpoint, rid, bob, ndjson(HEADER, GOOD_FILE))
    assert_hf_error(r, 404, "RepoNotFound")  # indistinguishable from a missing repo
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/main/.gitattributes", headers=bearer(bob), timeout=30)
    assert_hf_error(r, 404, "RepoNotFound")
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/main/.gitattributes", timeout=30)
    assert_hf_error(r, (401, 404), "RepoNotFound")
    assert head_sha(hub.endpoint, rid, _alice(hub)) == head


def test_bob_cannot_create_in_alice_namespace(hub, api):
    name = f"squat-{uuid.uuid4().hex[:6]}"
    r = requests.post(f"{hub.endpoint}/api/repos/create",
                      json={"name": name, "organization": "alice", "type": "model"},
                      headers=bearer(hub.token("bob")), timeout=30)
    assert_hf_error(r, 403)
    assert not api.repo_exists(f"alice/{name}")


def test_error_body_shape_on_unknown_api_route(hub):
    r = requests.get(f"{hub.endpoint}/api/this-route-does-not-exist", timeout=30)
    assert r.status_code == 404, describe(r)
    assert json.loads(r.text).get("error"), describe(r)


# ---- isolation ------------------------------------------------------------------------------------------

def test_lfs_object_not_claimable_by_hash(hub, api):
    """Knowing the sha256 of a file in alice's private repo must not let bob commit (and so read) it."""
    secret = hub.repo_id("secret")
    api.create_repo(secret, private=True)
    data = os.urandom(50_000)
    api.upload_file(path_or_fileobj=data, path_in_repo="secret.bin", repo_id=secret)
    oid = sha256_bytes(data)

    bob_repo = hub.repo_id("claim", owner="bob")
    requests.post(f"{hub.endpoint}/api/repos/create", json={"name": bob_repo.split("/")[1], "type": "model"},
                  headers=bearer(hub.token("bob")), timeout=30).raise_for_status()
    down = _lfs_batch(hub, bob_repo, [{"oid": oid, "size": len(data)}], operation="download",
                      token=hub.token("bob")).json()["objects"][0]
    assert "actions" not in down, f"bob got a download action for alice's private object: {down}"
    lfs = {"key": "lfsFile", "value": {"path": "stolen.bin", "algo": "sha256", "oid": oid, "size": len(data)}}
    r = commit_raw(hub.endpoint, bob_repo, hub.token("bob"), ndjson(HEADER, lfs))
    assert_hf_error(r, (400, 403, 404, 422))
    r = requests.get(f"{hub.endpoint}/{bob_repo}/resolve/main/stolen.bin", timeout=30)
    assert r.status_code == 404 and r.content != data, describe(r)


@pytest.mark.parametrize("url", [
    "/api/models/../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/{rid}/resolve/main/..%2F..%2F.git%2Fconfig",
    "/{rid}/resolve/main/.git/config",
    "/{rid}/resolve/..%2F..%2Fother/x",
    "/{rid}/resolve/main~1/data.txt",
    "/api/models/{rid}/tree/main/..%2F..",
    "/{rid}/raw/main/%2E%2E/%2E%2E/config",
], ids=["api-dotdot", "encoded-dotdot", "resolve-encoded-git", "resolve-dot-git", "rev-dotdot", "rev-tilde",
        "tree-dotdot", "raw-encoded-dotdot"])
def test_traversal_urls_are_refused(hub, target, url):
    rid, _ = target
    r = requests.get(hub.endpoint + url.format(rid=rid), headers=bearer(_alice(hub)), timeout=30)
    assert r.status_code in (400, 404), describe(r)
    assert b"[core]" not in r.content and b"root:" not in r.content, describe(r)
    assert r.json().get("error"), describe(r)


def test_pathological_gitattributes_pattern_answers_fast(hub, tmp_path):
    """A preupload carrying a .gitattributes pattern with many trailing slashes and a deep path must not pin
    a worker (pattern matching must stay polynomial). Runs on its own server, killed afterwards."""
    from _hub import start_hub

    own = start_hub(tmp_path / "patterns")
    try:
        own.create_user("alice")
        token = own.create_token("alice", "write", "patterns")
        requests.post(f"{own.endpoint}/api/repos/create", json={"name": "p", "type": "model"},
                      headers=bearer(token), timeout=30).raise_for_status()
        body = {"files": [{"path": "/".join(["d"] * 34) + "/f.txt", "size": 3, "sample": b64(b"hi\n")}],
                "gitAttributes": "x" + "/" * 16 + " filter=lfs\n"}
        t0 = time.monotonic()
        try:
            r = requests.post(f"{own.endpoint}/api/models/alice/p/preupload/main", json=body, headers=bearer(token),
                              timeout=10)
        except requests.Timeout:
            pytest.fail("preupload with a 16-trailing-slash .gitattributes pattern and a 34-level path did not "
                        "answer within 10 s (exponential pattern matching)")
        assert time.monotonic() - t0 < 5, f"took {time.monotonic() - t0:.1f} s"
        assert r.status_code in (200, 400, 422), describe(r)
    finally:
        own.stop(timeout=5)

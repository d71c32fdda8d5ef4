"""Security findings of the hardening issue, one regression test each: what an attacker tried, and that it now
fails cleanly without changing anything. Raw HTTP where the official clients would refuse to send the request.

Finding 1 (critical): a write user could read any stored LFS/Xet object of a private repository whose SHA-256
they knew, by committing a pointer to it into a repository of their own (an inline `file` operation whose text
is an LFS pointer skipped the ownership check of `lfsFile`). Every path that puts a pointer into a tree now goes
through one check (storage/meta/object_ownership.h), and every reader of a pointer through the same check.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import requests

from _util import (assert_hf_error, b64, bearer, commit_raw, describe, head_sha, ndjson, server_repo_dir,
                   sha256_bytes)

SECRET = os.urandom(256 * 1024)  # above every "regular file" threshold: stored as an LFS/Xet object


def pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def header(summary: str = "steal") -> dict:
    return {"key": "header", "value": {"summary": summary, "description": ""}}


@pytest.fixture(scope="module")
def victim(hub, api):
    """alice's private repository holding SECRET as an LFS file; returns (repo id, oid)."""
    rid = hub.repo_id("victim")
    api.create_repo(rid, private=True)
    api.upload_file(path_or_fileobj=SECRET, path_in_repo="weights.bin", repo_id=rid)
    oid = sha256_bytes(SECRET)
    info = api.get_paths_info(rid, ["weights.bin"])[0]
    assert info.lfs is not None and info.lfs.sha256 == oid, info
    return rid, oid


@pytest.fixture
def attacker_repo(hub, bob_api):
    """A public repository of bob's (a plain write user), deleted afterwards."""
    rid = hub.repo_id("attacker", owner="bob")
    bob_api.create_repo(rid)
    yield rid
    bob_api.delete_repo(rid, missing_ok=True)


def assert_not_served(hub, rid: str, path: str, rev: str = "main") -> None:
    """Neither anonymously nor as bob does the path give any byte of SECRET."""
    for token in (None, hub.token("bob")):
        for method in ("GET", "HEAD"):
            r = requests.request(method, f"{hub.endpoint}/{rid}/resolve/{rev}/{path}", headers=bearer(token),
                                 timeout=30)
            assert SECRET[:64] not in r.content, f"{method} served the victim's bytes: {describe(r)}"
            assert r.status_code == 404 or (r.status_code == 200 and len(r.content) < 1024 and method == "GET"), \
                describe(r)
            assert "X-Xet-Hash" not in r.headers, f"{method} names the victim's Xet hash: {r.headers}"


@pytest.mark.parametrize("declared", ["exact", "prefix"])
@pytest.mark.parametrize("encoding", ["base64", "utf-8"])
def test_inline_pointer_to_foreign_object_refused(hub, victim, attacker_repo, declared, encoding):
    _, oid = victim
    size = len(SECRET) if declared == "exact" else 100
    text = pointer(oid, size)
    content = b64(text) if encoding == "base64" else text.decode()
    before = head_sha(hub.endpoint, attacker_repo, hub.token("bob"))
    r = commit_raw(hub.endpoint, attacker_repo, hub.token("bob"), ndjson(
        header(), {"key": "file", "value": {"path": "stolen.bin", "content": content, "encoding": encoding}}))
    body = assert_hf_error(r, 400)
    assert "never uploaded to this repository" in body["error"], body
    assert head_sha(hub.endpoint, attacker_repo, hub.token("bob")) == before, "the refused commit moved main"
    assert_not_served(hub, attacker_repo, "stolen.bin")


def test_lfs_file_op_to_foreign_object_refused(hub, victim, attacker_repo):
    _, oid = victim
    r = commit_raw(hub.endpoint, attacker_repo, hub.token("bob"), ndjson(
        header(), {"key": "lfsFile", "value": {"path": "stolen.bin", "algo": "sha256", "oid": oid,
                                               "size": len(SECRET)}}))
    assert_hf_error(r, 400)
    assert_not_served(hub, attacker_repo, "stolen.bin")


def test_inline_pointer_to_own_object_accepted(hub, api):
    """The owner may still commit a pointer text to an object the repository holds (one rule, not a ban):
    it becomes the LFS file, served in full; a wrong size is refused."""
    rid = hub.repo_id("ownptr")
    api.create_repo(rid)
    data = os.urandom(200 * 1024)
    api.upload_file(path_or_fileobj=data, path_in_repo="a.bin", repo_id=rid)
    oid = sha256_bytes(data)
    r = commit_raw(hub.endpoint, rid, hub.token("alice"), ndjson(
        header("copy by pointer"), {"key": "file", "value": {"path": "b.bin", "content": b64(pointer(oid, len(data))),
                                                             "encoding": "base64"}}))
    assert r.status_code == 200, describe(r)
    got = requests.get(f"{hub.endpoint}/{rid}/resolve/main/b.bin", timeout=30)
    assert got.status_code == 200 and got.content == data, describe(got)
    attrs = requests.get(f"{hub.endpoint}/{rid}/resolve/main/.gitattributes", timeout=30).text
    assert "b.bin" in attrs or "*.bin" in attrs, attrs
    r = commit_raw(hub.endpoint, rid, hub.token("alice"), ndjson(
        header("short"), {"key": "file", "value": {"path": "c.bin", "content": b64(pointer(oid, 10)),
                                                   "encoding": "base64"}}))
    body = assert_hf_error(r, 400)
    assert "has size" in body["error"], body




def _plant(hub, rid: str, files: dict[str, bytes]) -> str:
    """Writes a commit with `files` straight into the server's bare repository, as data committed before the
    fix (or by any future path that forgot the check) would be; returns its id. The server caches branch
    heads it moved itself, so the tests address this commit by id."""
    head = head_sha(hub.endpoint, rid, hub.token("bob"))
    gd = str(server_repo_dir(hub, head))
    env = {**os.environ, "GIT_AUTHOR_NAME": "x", "GIT_AUTHOR_EMAIL": "x@x", "GIT_COMMITTER_NAME": "x",
           "GIT_COMMITTER_EMAIL": "x@x", "GIT_INDEX_FILE": str(Path(gd) / "plant.index")}

    def git(*args: str, data: bytes | None = None) -> str:
        return subprocess.run(["git", "--git-dir", gd, *args], input=data, capture_output=True, env=env,
                              check=True).stdout.decode().strip()

    git("read-tree", head)
    for path, text in files.items():
        blob = git("hash-object", "-w", "--stdin", data=text)
        git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
    tree = git("write-tree")
    commit = git("commit-tree", tree, "-p", head, "-m", "planted")
    git("update-ref", "refs/heads/main", commit, head)
    os.unlink(env["GIT_INDEX_FILE"])
    return commit


def test_planted_foreign_pointer_is_not_served_nor_damage(hub, victim, attacker_repo):
    """A junk pointer already in a tree: /resolve serves no byte, the tree shows no Xet hash, repo info shows
    no stored bytes for it, copying it is refused, and fsck reports it as information, not as damage."""
    _, oid = victim
    missing = "ab" * 32
    rev = _plant(hub, attacker_repo, {"exact.bin": pointer(oid, len(SECRET)), "prefix.bin": pointer(oid, 100),
                                      "nothing.bin": pointer(missing, 5)})
    for path in ("exact.bin", "prefix.bin", "nothing.bin"):
        assert_not_served(hub, attacker_repo, path, rev)
    tree = requests.get(f"{hub.endpoint}/api/models/{attacker_repo}/tree/{rev}", timeout=30).json()
    assert {e["path"] for e in tree} >= {"exact.bin", "prefix.bin", "nothing.bin"}, tree
    assert all("xetHash" not in e for e in tree), tree
    info = requests.get(f"{hub.endpoint}/api/models/{attacker_repo}/revision/{rev}", timeout=30).json()
    assert info["sha"] == rev and info.get("storage", {}).get("storedBytes", 0) == 0, info
    r = commit_raw(hub.endpoint, attacker_repo, hub.token("bob"), ndjson(
        header("copy"), {"key": "copyFile", "value": {"path": "copy.bin", "oldPath": "exact.bin",
                                                      "srcRevision": rev}}))
    assert_hf_error(r, 400)

    cp = subprocess.run([str(hub.binary), "admin", "--data", str(hub.data_dir), "fsck"], capture_output=True,
                        text=True, timeout=600)
    assert cp.returncode == 0, f"fsck treats junk pointers as damage:\n{cp.stdout}\n{cp.stderr}"
    assert f"UNOWNED pointer {missing}" in cp.stdout, cp.stdout
    assert f"MISSING file {missing}" not in cp.stdout, cp.stdout

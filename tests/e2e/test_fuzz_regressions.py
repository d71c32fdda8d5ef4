"""Inputs the fuzzers found (tests/fuzz/crashes/): each must now get a clean HF-style answer."""

from __future__ import annotations

import time

import requests

from _util import assert_hf_error, b64, bearer, commit_raw, head_sha, ndjson

LFS_JSON = "application/vnd.git-lfs+json"


def test_invalid_utf8_in_url_gets_a_json_error(hub, api):
    rid = hub.repo_id("fuzz-utf8")
    api.create_repo(rid)
    for path in (f"/api/models/{rid}/revision/%FF", f"/{rid}/resolve/main/%C3", f"/{rid}/resolve/%FF%FE/x"):
        r = requests.get(hub.endpoint + path, headers=bearer(hub.token("alice")), timeout=30)
        assert_hf_error(r, 404)


def test_invalid_utf8_path_in_commit_gets_a_json_error(hub, api):
    rid = hub.repo_id("fuzz-utf8-commit")
    api.create_repo(rid)
    head = head_sha(hub.endpoint, rid, hub.token("alice"))
    bad = "x" * 199 + "\u00e9" + "y"  # the 200-byte cut in the message falls inside the 2-byte character
    body = ndjson({"key": "header", "value": {"summary": "s"}},
                  {"key": "file", "value": {"path": bad + "/../z", "content": b64(b"1"), "encoding": "base64"}})
    r = commit_raw(hub.endpoint, rid, hub.token("alice"), body)
    assert_hf_error(r, (400, 422))
    assert head_sha(hub.endpoint, rid, hub.token("alice")) == head


def test_many_star_gitattributes_in_preupload_is_fast(hub, api):
    rid = hub.repo_id("fuzz-glob")
    api.create_repo(rid)
    files = [{"path": "a" * 40 + str(i), "size": 10, "sample": b64(b"hello")} for i in range(200)]
    started = time.monotonic()
    r = requests.post(f"{hub.endpoint}/api/models/{rid}/preupload/main", headers=bearer(hub.token("alice")),
                      json={"files": files, "gitAttributes": "**************b filter=lfs\n" * 20}, timeout=60)
    assert r.status_code == 200, r.text
    assert time.monotonic() - started < 10


def test_lfs_batch_part_urls_are_bounded(hub, api):
    rid = hub.repo_id("fuzz-parts")
    api.create_repo(rid)
    objects = [{"oid": f"{i:064x}", "size": 4 << 40} for i in range(50)]  # 50 x 4 TiB
    r = requests.post(f"{hub.endpoint}/{rid}.git/info/lfs/objects/batch",
                      headers={**bearer(hub.token("alice")), "Accept": LFS_JSON, "Content-Type": LFS_JSON},
                      json={"operation": "upload", "transfers": ["basic", "multipart"], "objects": objects},
                      timeout=60)
    assert r.status_code == 200, r.text[:500]
    urls = sum(len(o.get("actions", {}).get("upload", {}).get("header", {})) for o in r.json()["objects"])
    assert urls <= 20000 + len(objects)
    assert len(r.content) < 20 << 20

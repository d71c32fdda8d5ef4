"""Security findings 5 and 6 of the hardening issue (#11): the NDJSON commit path, .gitattributes matching and
request memory. Raw HTTP where the official clients would never send the request.

Finding 5 (pattern matching CPU): a `gitAttributes` line of "*a" * 6000 + "b" against a 1,024-character path cost
~1.2 s of CPU per line and file, and a 40 MB .gitattributes with 3,000 `lfsFile` paths in one commit ran past 60 s
(the file was copied and re-parsed per path). Pattern files are now parsed once with explicit limits
(repo/path_rules.h: line length, patterns per file, file size, wildcard bytes, a work budget per request) and
each path is matched against the parsed rules; every reader (commit, preupload, git push) uses the same API.

Finding 6 (memory per request): 4 concurrent commits with one 60 MiB inline file each took the server from 18 MiB
to 1.2 GiB RSS. An inline file is now capped at 10 MiB decoded (as the Hub: larger files go through LFS/Xet), and
the NDJSON lines that commits hold in memory draw on one server-wide byte budget.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import requests

from _util import assert_hf_error, b64, bearer, commit_raw, describe, head_sha, ndjson, sha256_bytes


def header(summary: str = "test") -> dict:
    return {"key": "header", "value": {"summary": summary, "description": ""}}


def file_op(path: str, data: bytes) -> dict:
    return {"key": "file", "value": {"path": path, "content": b64(data), "encoding": "base64"}}


def lfs_op(path: str, oid: str, size: int) -> dict:
    return {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": oid, "size": size}}


@pytest.fixture
def repo(hub, api):
    rid = hub.repo_id("seccommit")
    api.create_repo(rid)
    yield rid
    api.delete_repo(rid, missing_ok=True)


def read_file(hub, rid: str, path: str) -> bytes:
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/main/{path}", headers=bearer(hub.token("alice")), timeout=60)
    assert r.status_code == 200, describe(r)
    return r.content


# ---- finding 5: pattern matching ------------------------------------------------------------------------------


def test_preupload_refuses_the_reported_pattern_with_the_limit_named(hub, repo):
    """The reported line ("*a" * 6000 + "b", 12 KB) is longer than git itself reads from a .gitattributes; it is
    refused with a 400 naming the limit instead of being matched against every file."""
    attrs = "*a" * 6000 + "b filter=lfs diff=lfs merge=lfs -text\n"
    files = [{"path": "a" * 1000 + f"/{i:03}", "size": 10, "sample": b64(b"0123456789")} for i in range(20)]
    r = requests.post(f"{hub.endpoint}/api/models/{repo}/preupload/main", json={"files": files, "gitAttributes": attrs},
                      headers=bearer(hub.token("alice")), timeout=120)
    body = assert_hf_error(r, 400, "BadRequest")
    assert "line 1 is longer than 2048 bytes (limit)" in body["error"], describe(r)


def test_preupload_matches_a_slow_pattern_of_the_allowed_size(hub, repo):
    """Companion of the test above (it passes before the fix too, only slower): a pattern just under the line
    limit, of the shape that costs |pattern|·|path| with backtracking, against 100 paths of 1,005 characters is
    answered, and right (it matches the paths that end in "ab", only those)."""
    pattern = "*a" * 1000 + "b"
    attrs = f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    paths = [f"{i:04}" + "a" * 1000 + ("b" if i % 2 else "c") for i in range(100)]
    files = [{"path": p, "size": 10, "sample": b64(b"0123456789")} for p in paths]
    r = requests.post(f"{hub.endpoint}/api/models/{repo}/preupload/main", json={"files": files, "gitAttributes": attrs},
                      headers=bearer(hub.token("alice")), timeout=120)
    assert r.status_code == 200, describe(r)
    modes = {f["path"]: f["uploadMode"] for f in r.json()["files"]}
    for i, p in enumerate(paths):
        assert modes[p] == ("lfs" if i % 2 else "regular"), (i, p[-8:], modes[p])


def test_commit_refuses_an_oversized_gitattributes(hub, repo):
    """A .gitattributes beyond the size limit is refused as a commit writes it (the commit changes nothing), so
    no later commit or preupload has to read one."""
    before = head_sha(hub.endpoint, repo, hub.token("alice"))
    line = b"data/some-file-name-of-fifty-bytes-0000000.bin filter=lfs diff=lfs merge=lfs -text\n"
    big = line * ((5 << 20) // len(line))
    r = commit_raw(hub.endpoint, repo, hub.token("alice"), ndjson(header(), file_op(".gitattributes", big)))
    body = assert_hf_error(r, 400, "BadRequest")
    assert ".gitattributes is larger than 4194304 bytes (limit)" in body["error"], describe(r)
    long_line = b"*" + b"x" * 3000 + b" filter=lfs\n"
    r = commit_raw(hub.endpoint, repo, hub.token("alice"), ndjson(header(), file_op(".gitignore", long_line)))
    body = assert_hf_error(r, 400, "BadRequest")
    assert ".gitignore: line 1 is longer than 2048 bytes (limit)" in body["error"], describe(r)
    # nor can a copy put a file over the limits there
    r = commit_raw(hub.endpoint, repo, hub.token("alice"), ndjson(header(), file_op("notes.txt", long_line)))
    assert r.status_code == 200, describe(r)
    before = head_sha(hub.endpoint, repo, hub.token("alice"))
    r = commit_raw(hub.endpoint, repo, hub.token("alice"),
                   ndjson(header(), {"key": "copyFile", "value": {"path": ".gitignore", "oldPath": "notes.txt"}}))
    body = assert_hf_error(r, 400, "BadRequest")
    assert ".gitignore: line 1 is longer than 2048 bytes (limit)" in body["error"], describe(r)
    assert head_sha(hub.endpoint, repo, hub.token("alice")) == before


def test_commit_of_3000_lfs_paths_with_a_large_gitattributes(hub, api, repo):
    """The reported commit shape, within the limits: a 3 MB .gitattributes of literal lines plus 3,000 `lfsFile`
    paths no rule covers. Each path is matched against rules parsed once (the old code copied and re-parsed the
    whole file per path: minutes); afterwards .gitattributes covers every one of them, once."""
    data = os.urandom(64 * 1024)
    api.upload_file(path_or_fileobj=data, path_in_repo="seed.bin", repo_id=repo)
    oid = sha256_bytes(data)
    line = "old/file-{:06}.dat filter=lfs diff=lfs merge=lfs -text\n"
    existing = "".join(line.format(i) for i in range(3_000_000 // len(line.format(0))))
    existing += "*.keep filter=lfs diff=lfs merge=lfs -text\n"
    assert len(existing) < 4 << 20
    paths = [f"shards/part {i:04}/x-{i}.dat" for i in range(3000)]
    ops = [header("many lfs"), file_op(".gitattributes", existing.encode())]
    ops += [lfs_op(p, oid, len(data)) for p in paths]
    ops.append(lfs_op("already/covered.keep", oid, len(data)))
    r = requests.post(f"{hub.endpoint}/api/models/{repo}/commit/main", data=ndjson(*ops),
                      headers={**bearer(hub.token("alice")), "content-type": "application/x-ndjson"}, timeout=300)
    assert r.status_code == 200, describe(r)
    attrs = read_file(hub, repo, ".gitattributes").decode()
    assert attrs.startswith(existing)
    added = attrs[len(existing):].splitlines()
    assert len(added) == 3000, added[:3]
    assert added[0] == "shards/part[[:space:]]0000/x-0.dat filter=lfs diff=lfs merge=lfs -text"
    # git itself agrees that every path is LFS-tracked (spot check through preupload, which reads the repo's file)
    files = [{"path": p, "size": 5, "sample": b64(b"hello")} for p in paths[:1000:97] + ["shards/other.txt"]]
    r = requests.post(f"{hub.endpoint}/api/models/{repo}/preupload/main", json={"files": files},
                      headers=bearer(hub.token("alice")), timeout=120)
    assert r.status_code == 200, describe(r)
    modes = [f["uploadMode"] for f in r.json()["files"]]
    assert modes == ["lfs"] * (len(files) - 1) + ["regular"], modes


def test_git_push_of_an_over_limit_gitattributes_is_refused(hub, api, repo, tmp_path):
    """A push must not store what the HTTP API would refuse: the pre-receive hook applies the same limits. (git's
    own fsck already refuses .gitattributes lines over 2048 bytes; the other limits are modelhub's.)"""
    from test_git import _have_git_lfs, authed, commit_file, git, make_git_env

    if not _have_git_lfs():
        pytest.skip("git and git-lfs are needed (scripts/install-deps.sh installs them)")
    env = make_git_env(tmp_path / "githome")
    work = tmp_path / "work"
    git(env, "clone", authed(hub, "alice", repo), str(work))
    before = api.model_info(repo).sha
    wild = "".join(f"*{i:05}*a*b* filter=lfs diff=lfs merge=lfs -text\n" for i in range(7000))  # 84 KB of wildcards
    attrs = (work / ".gitattributes").read_text() + wild
    commit_file(env, work, ".gitattributes", attrs, "too many wildcard patterns")
    cp = git(env, "push", "origin", "main", cwd=work, check=False)
    assert cp.returncode != 0
    assert ".gitattributes (commit" in cp.stderr and "total more than 65536 bytes (limit" in cp.stderr, cp.stderr
    assert api.model_info(repo).sha == before
    # within the limits, the same kind of change goes through
    git(env, "reset", "-q", "--hard", "origin/main", cwd=work)
    attrs = (work / ".gitattributes").read_text() + "*.dat filter=lfs diff=lfs merge=lfs -text\n"
    commit_file(env, work, ".gitattributes", attrs, "one more pattern")
    git(env, "push", "origin", "main", cwd=work)
    assert api.model_info(repo).sha != before


# ---- finding 6: memory per request ----------------------------------------------------------------------------


def vm_kib(hub, field: str) -> int:
    """VmRSS / VmHWM of the server process, in KiB."""
    for line in Path(f"/proc/{hub.proc.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{hub.proc.pid}/status")


def post_commits_concurrently(hub, token: str, rids: list[str], bodies: list[bytes]) -> list:
    """POSTs one commit per repository at once; returns each response (or the exception it raised)."""
    results: list = [None] * len(rids)

    def run(i: int) -> None:
        try:
            results[i] = requests.post(f"{hub.endpoint}/api/models/{rids[i]}/commit/main", data=bodies[i],
                                       headers={**bearer(token), "content-type": "application/x-ndjson"},
                                       timeout=120)
        except requests.RequestException as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(rids))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    return results


@pytest.fixture
def own_hub(tmp_path, request):
    """A server of this test's own (its memory is measured), with alice and a write token."""
    from _hub import start_hub

    h = start_hub(tmp_path / "own", extra_args=getattr(request, "param", ()))
    try:
        h.create_user("alice")
        h.users["alice"] = __import__("_hub").User("alice", h.create_token("alice", "write", "mem"))
        yield h
    finally:
        h.stop(timeout=10)


def create_repos(hub, n: int) -> list[str]:
    rids = []
    for i in range(n):
        r = requests.post(f"{hub.endpoint}/api/repos/create", json={"name": f"mem{i}", "type": "model"},
                          headers=bearer(hub.token("alice")), timeout=30)
        assert r.status_code == 200, describe(r)
        rids.append(f"alice/mem{i}")
    return rids


def test_inline_file_above_10_mib_is_refused_with_a_hint(hub, repo):
    """Inline content is for files the Hub stores in git (preupload calls them "regular": < 10 MiB); larger files
    must go through LFS/Xet. 10 MiB is accepted, one byte more is a 413 that says what to do."""
    before = head_sha(hub.endpoint, repo, hub.token("alice"))
    big = os.urandom((10 << 20) + 1)
    r = commit_raw(hub.endpoint, repo, hub.token("alice"), ndjson(header(), file_op("big.dat", big)))
    body = assert_hf_error(r, 413, "PayloadTooLarge")
    assert "upload it with LFS" in body["error"], describe(r)
    assert head_sha(hub.endpoint, repo, hub.token("alice")) == before
    r = commit_raw(hub.endpoint, repo, hub.token("alice"), ndjson(header(), file_op("ok.dat", big[:10 << 20])))
    assert r.status_code == 200, describe(r)
    assert read_file(hub, repo, "ok.dat") == big[:10 << 20]


def test_four_concurrent_60_mib_inline_commits_keep_memory_bounded(own_hub):
    """The reported load: 4 commits at once, each with one 60 MiB inline file (80 MB of base64 on one NDJSON line).
    It used to take the server from ~18 MiB to 1.2 GiB; now each commit stops reading at the line limit
    (~14 MiB) with a 413, and the server's peak grows by far less than one such file per request."""
    rids = create_repos(own_hub, 4)
    body = ndjson(header(), file_op("huge.bin", os.urandom(60 << 20)))
    hwm_before = vm_kib(own_hub, "VmHWM")
    results = post_commits_concurrently(own_hub, own_hub.token("alice"), rids, [body] * 4)
    grown_mib = (vm_kib(own_hub, "VmHWM") - hwm_before) / 1024
    print(f"peak memory growth: {grown_mib:.0f} MiB")
    assert grown_mib < 160, f"server peak memory grew by {grown_mib:.0f} MiB"
    for r in results:
        # The server answers as soon as the line is too long; a client still sending may see the connection
        # close before it reads the answer.
        if isinstance(r, requests.Response):
            body_json = assert_hf_error(r, 413, "PayloadTooLarge")
            assert "upload larger files with LFS" in body_json["error"], describe(r)
        else:
            assert isinstance(r, requests.ConnectionError), repr(r)
    assert any(isinstance(r, requests.Response) for r in results), results
    for rid in rids:
        r = requests.get(f"{own_hub.endpoint}/api/models/{rid}/tree/main", headers=bearer(own_hub.token("alice")),
                         timeout=30)
        assert [e["path"] for e in r.json()] == [".gitattributes"], describe(r)


@pytest.mark.parametrize("own_hub", [("--commit-memory-bytes", str(80 << 20))], indirect=True)
def test_commit_memory_budget_bounds_concurrent_inline_commits(own_hub):
    """With a budget of 80 MiB, only one commit at a time may hold a ~10 MiB line (it is charged ~57 MiB: the line,
    the parser's copies and the decoded file); the others wait their turn. All six succeed, and the server's peak
    grows by about the budget, not six lines' worth."""
    rids = create_repos(own_hub, 6)
    files = [os.urandom(9 << 20) for _ in rids]
    bodies = [ndjson(header(), file_op("f.dat", f)) for f in files]
    hwm_before = vm_kib(own_hub, "VmHWM")
    results = post_commits_concurrently(own_hub, own_hub.token("alice"), rids, bodies)
    grown_mib = (vm_kib(own_hub, "VmHWM") - hwm_before) / 1024
    for r in results:
        assert isinstance(r, requests.Response) and r.status_code == 200, r if not isinstance(r, requests.Response) \
            else describe(r)
    print(f"peak memory growth: {grown_mib:.0f} MiB")
    assert grown_mib < 80 + 40, f"server peak memory grew by {grown_mib:.0f} MiB"
    for rid, f in zip(rids, files):
        assert read_file(own_hub, rid, "f.dat") == f

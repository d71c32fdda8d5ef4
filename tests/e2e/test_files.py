"""Files through huggingface_hub: uploads (regular, LFS basic/multipart), commits, downloads by every kind
of revision, snapshots, tree/refs/commits listings, branches and tags, HfFileSystem."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationCopy,
    CommitOperationDelete,
    HfFileSystem,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RevisionNotFoundError

from _util import (counters_delta, describe, git_blob_sha1, server_counters, sha256_bytes, sha256_file,
                   write_random_file)

HEX40 = re.compile(r"^[0-9a-f]{40}$")
LARGE_MB = int(os.environ.get("MODELHUB_E2E_LARGE_MB", "500"))


def _norm_etag(value: str | None) -> str:
    v = (value or "").strip()
    if v.startswith("W/"):
        v = v[2:]
    return v.strip('"')


@pytest.fixture(scope="module")
def populated(hub, api):
    """A repo with regular and LFS files, three commits on main, a tag and a branch on the first one.
    Read-only for the tests that use it."""
    repo_id = hub.repo_id("files")
    api.create_repo(repo_id)
    init_sha = api.model_info(repo_id).sha
    files = {
        "README.md": b"---\nlicense: mit\n---\n# test repo\n",
        "config.json": b'{"model_type": "bert", "hidden_size": 8}\n',
        "dir/a.txt": b"a, first version\n",
        "dir/sub/b.txt": b"b\n" * 100,
        "weights.bin": os.urandom(300_000),  # LFS by the default .gitattributes
        "old/x.txt": b"x\n",
        "old/y/z.txt": b"z\n",
    }
    c1 = api.create_commit(repo_id, [CommitOperationAdd(p, d) for p, d in files.items()],
                           commit_message="initial files")
    v1 = dict(files)
    files["dir/a.txt"] = b"a, second version\n"
    c2 = api.upload_file(path_or_fileobj=files["dir/a.txt"], path_in_repo="dir/a.txt", repo_id=repo_id,
                         commit_message="update a")
    api.create_tag(repo_id, tag="v1.0", revision=c1.oid, tag_message="first release")
    api.create_branch(repo_id, branch="dev", revision=c1.oid)
    return SimpleNamespace(repo_id=repo_id, files=files, v1=v1, init=init_sha, c1=c1.oid, c2=c2.oid)


def _peak_rss_mb(hub) -> float | None:
    """The server process's peak resident memory (VmHWM) in MB, or None where /proc is unavailable."""
    try:
        for line in Path(f"/proc/{hub.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _download(repo_id, filename, cache, **kw) -> bytes:
    path = hf_hub_download(repo_id, filename, cache_dir=cache, **kw)
    return Path(path).read_bytes()


def test_upload_file_returns_commit(hub, api, populated):
    assert HEX40.match(populated.c1) and HEX40.match(populated.c2)
    assert api.model_info(populated.repo_id).sha == populated.c2


@pytest.mark.parametrize("kind", ["branch", "tag", "full_sha", "short_sha"])
def test_download_by_revision(hub, populated, fresh_cache, kind):
    revision, expected = {
        "branch": ("dev", populated.v1),
        "tag": ("v1.0", populated.v1),
        "full_sha": (populated.c1, populated.v1),
        "short_sha": (populated.c1[:8], populated.v1),
    }[kind]
    for name in ("dir/a.txt", "weights.bin", "config.json"):
        assert _download(populated.repo_id, name, fresh_cache, revision=revision) == expected[name], name


def test_download_main_latest(hub, populated, fresh_cache):
    for name, data in populated.files.items():
        assert _download(populated.repo_id, name, fresh_cache) == data, name
    # cache layout: the snapshot folder is named by the commit the server resolved main to
    snap = Path(fresh_cache) / f"models--{populated.repo_id.replace('/', '--')}" / "snapshots"
    assert [p.name for p in snap.iterdir()] == [populated.c2]


def test_download_missing(hub, populated, fresh_cache):
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(populated.repo_id, "nope.txt", cache_dir=fresh_cache)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(populated.repo_id, "config.json", revision="no-such-branch", cache_dir=fresh_cache)


def test_resolve_headers_and_ranges(hub, populated):
    base = f"{hub.endpoint}/{populated.repo_id}/resolve/main"
    weights = populated.files["weights.bin"]
    h = requests.head(f"{base}/weights.bin", headers={"Accept-Encoding": "identity"}, timeout=30,
                      allow_redirects=False)
    assert h.status_code == 200, describe(h)
    assert h.headers.get("X-Repo-Commit") == populated.c2, describe(h)
    etag = _norm_etag(h.headers.get("X-Linked-Etag") or h.headers.get("ETag"))
    assert etag == sha256_bytes(weights), f"LFS etag should be the sha256: {describe(h)}"
    size = h.headers.get("X-Linked-Size") or h.headers.get("Content-Length")
    assert size is not None and int(size) == len(weights), describe(h)

    h = requests.head(f"{base}/config.json", headers={"Accept-Encoding": "identity"}, timeout=30)
    assert h.status_code == 200, describe(h)
    cfg = populated.files["config.json"]
    assert _norm_etag(h.headers.get("X-Linked-Etag") or h.headers.get("ETag")) == git_blob_sha1(cfg), describe(h)

    n = len(weights)
    for rng, lo, hi in [("bytes=100-199", 100, 199), ("bytes=-10", n - 10, n - 1), (f"bytes={n - 5}-", n - 5, n - 1),
                        ("bytes=0-0", 0, 0), (f"bytes=1000-{n + 999}", 1000, n - 1)]:
        r = requests.get(f"{base}/weights.bin", headers={"Range": rng}, timeout=30)
        assert r.status_code == 206, f"{rng}: {describe(r)}"
        assert r.headers.get("Content-Range") == f"bytes {lo}-{hi}/{n}", f"{rng}: {describe(r)}"
        assert r.content == weights[lo:hi + 1], rng
    r = requests.get(f"{base}/config.json", headers={"Range": "bytes=2-5"}, timeout=30)
    assert r.status_code == 206 and r.content == cfg[2:6], describe(r)

    # /raw/ serves the git blob, i.e. the LFS pointer
    r = requests.get(f"{hub.endpoint}/{populated.repo_id}/raw/main/weights.bin", timeout=30)
    assert r.status_code == 200, describe(r)
    assert r.content.startswith(b"version https://git-lfs.github.com/spec/v1\n"), r.content[:200]
    assert f"oid sha256:{sha256_bytes(weights)}".encode() in r.content
    assert f"size {n}".encode() in r.content


def test_file_exists(hub, api, populated):
    assert api.file_exists(populated.repo_id, "dir/sub/b.txt")
    assert api.file_exists(populated.repo_id, "weights.bin")
    assert not api.file_exists(populated.repo_id, "dir/missing.txt")
    assert api.file_exists(populated.repo_id, "old/x.txt", revision="v1.0")


def test_list_repo_tree(hub, api, populated):
    rid = populated.repo_id
    top = {e.path: e for e in api.list_repo_tree(rid)}
    assert set(top) == {".gitattributes", "README.md", "config.json", "weights.bin", "dir", "old"}
    assert type(top["dir"]).__name__ == "RepoFolder"
    assert type(top["config.json"]).__name__ == "RepoFile"
    assert top["config.json"].size == len(populated.files["config.json"])
    assert top["config.json"].blob_id == git_blob_sha1(populated.files["config.json"])
    w = top["weights.bin"]
    assert w.size == len(populated.files["weights.bin"])
    assert w.lfs is not None and w.lfs.sha256 == sha256_bytes(populated.files["weights.bin"])
    assert w.lfs.size == w.size and w.lfs.pointer_size > 100

    rec = {e.path for e in api.list_repo_tree(rid, recursive=True)}
    assert set(populated.files) <= rec
    assert {"dir", "dir/sub", "old", "old/y"} <= rec

    sub = {e.path for e in api.list_repo_tree(rid, path_in_repo="dir")}
    assert sub == {"dir/a.txt", "dir/sub"}

    expanded = {e.path: e for e in api.list_repo_tree(rid, path_in_repo="dir", expand=True)}
    last = expanded["dir/a.txt"].last_commit
    assert last is not None and last.oid == populated.c2 and last.title == "update a"

    at_v1 = {e.path for e in api.list_repo_tree(rid, recursive=True, revision="v1.0")}
    assert "old/y/z.txt" in at_v1

    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(rid, path_in_repo="no/such/dir"))


def test_list_repo_refs(hub, api, populated):
    refs = api.list_repo_refs(populated.repo_id)
    branches = {b.name: b.target_commit for b in refs.branches}
    assert branches == {"main": populated.c2, "dev": populated.c1}
    assert {t.name: t.target_commit for t in refs.tags} == {"v1.0": populated.c1}
    assert refs.converts == []


def test_list_repo_commits(hub, api, populated):
    commits = api.list_repo_commits(populated.repo_id)
    assert [c.commit_id for c in commits] == [populated.c2, populated.c1, populated.init]
    assert [c.title for c in commits[:2]] == ["update a", "initial files"]
    assert all(c.created_at is not None for c in commits)
    dev = api.list_repo_commits(populated.repo_id, revision="dev")
    assert [c.commit_id for c in dev] == [populated.c1, populated.init]


def test_snapshot_download_allow_patterns(hub, populated, fresh_cache, tmp_path):
    path = Path(snapshot_download(populated.repo_id, cache_dir=fresh_cache, allow_patterns=["*.json", "dir/*"]))
    got = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())
    # fnmatch: "dir/*" also matches dir/sub/b.txt
    assert got == ["config.json", "dir/a.txt", "dir/sub/b.txt"]
    for name in got:
        assert (path / name).read_bytes() == populated.files[name]
    assert path.name == populated.c2

    full = Path(snapshot_download(populated.repo_id, revision="v1.0", local_dir=tmp_path / "full"))
    for name, data in populated.v1.items():
        assert (full / name).read_bytes() == data, name


def test_branch_and_tag_lifecycle(hub, api, populated):
    rid = hub.repo_id("refs")
    api.create_repo(rid)
    c1 = api.upload_file(path_or_fileobj=b"one\n", path_in_repo="f.txt", repo_id=rid, commit_message="one")
    c2 = api.upload_file(path_or_fileobj=b"two\n", path_in_repo="f.txt", repo_id=rid, commit_message="two")

    api.create_branch(rid, branch="feature", revision=c1.oid)
    with pytest.raises(HfHubHTTPError) as e:
        api.create_branch(rid, branch="feature")
    assert e.value.response.status_code == 409, describe(e.value.response)
    api.create_branch(rid, branch="feature", exist_ok=True)
    api.create_branch(rid, branch="from-head")  # from the default branch head
    c3 = api.upload_file(path_or_fileobj=b"three\n", path_in_repo="f.txt", repo_id=rid, revision="feature")

    api.create_tag(rid, tag="t1", revision=c2.oid)
    with pytest.raises(HfHubHTTPError) as e:
        api.create_tag(rid, tag="t1", revision=c1.oid)
    assert e.value.response.status_code == 409, describe(e.value.response)
    api.create_tag(rid, tag="t1", revision=c1.oid, exist_ok=True)

    refs = api.list_repo_refs(rid)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": c2.oid, "feature": c3.oid,
                                                                 "from-head": c2.oid}
    assert {t.name: t.target_commit for t in refs.tags} == {"t1": c2.oid}
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/feature/f.txt", timeout=30)
    assert r.content == b"three\n" and r.headers.get("X-Repo-Commit") == c3.oid, describe(r)

    api.delete_tag(rid, tag="t1")
    api.delete_branch(rid, branch="feature")
    refs = api.list_repo_refs(rid)
    assert sorted(b.name for b in refs.branches) == ["from-head", "main"]
    assert refs.tags == []
    with pytest.raises(HfHubHTTPError):
        api.delete_branch(rid, branch="main")  # the default branch cannot be deleted
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag(rid, tag="t1")
    with pytest.raises(HfHubHTTPError):
        api.create_tag(rid, tag="t2", revision="no-such-branch")
    assert api.model_info(rid).sha == c2.oid


def test_create_commit_delete_and_copy(hub, api):
    rid = hub.repo_id("ops")
    api.create_repo(rid)
    lfs = os.urandom(50_000)
    api.create_commit(rid, [
        CommitOperationAdd("keep.txt", b"keep\n"),
        CommitOperationAdd("gone.txt", b"gone\n"),
        CommitOperationAdd("folder/a.txt", b"a\n"),
        CommitOperationAdd("folder/deep/b.txt", b"b\n"),
        CommitOperationAdd("model.bin", lfs),
    ], commit_message="setup")
    c = api.create_commit(rid, [
        CommitOperationDelete("gone.txt"),
        CommitOperationDelete("folder/", is_folder=True),
        CommitOperationCopy("model.bin", "copies/model.bin"),
        CommitOperationCopy("keep.txt", "copies/keep.txt"),
    ], commit_message="delete and copy")
    files = set(api.list_repo_files(rid))
    assert files == {".gitattributes", "keep.txt", "model.bin", "copies/model.bin", "copies/keep.txt"}
    tree = {e.path: e for e in api.list_repo_tree(rid, path_in_repo="copies")}
    assert tree["copies/model.bin"].lfs is not None
    assert tree["copies/model.bin"].lfs.sha256 == sha256_bytes(lfs)
    for path, data in [("copies/model.bin", lfs), ("copies/keep.txt", b"keep\n")]:
        r = requests.get(f"{hub.endpoint}/{rid}/resolve/{c.oid}/{path}", timeout=30)
        assert r.status_code == 200 and r.content == data, describe(r)
    with pytest.raises(EntryNotFoundError):
        api.create_commit(rid, [CommitOperationDelete("not-there.txt")], commit_message="bad delete")
    assert api.model_info(rid).sha == c.oid


def test_stale_parent_commit(hub, api):
    rid = hub.repo_id("parent")
    api.create_repo(rid)
    c1 = api.upload_file(path_or_fileobj=b"1\n", path_in_repo="n.txt", repo_id=rid)
    c2 = api.create_commit(rid, [CommitOperationAdd("n.txt", b"2\n")], commit_message="2", parent_commit=c1.oid)
    with pytest.raises(HfHubHTTPError) as e:
        api.create_commit(rid, [CommitOperationAdd("n.txt", b"stale\n")], commit_message="stale",
                          parent_commit=c1.oid)
    assert e.value.response.status_code == 412, describe(e.value.response)
    assert api.model_info(rid).sha == c2.oid
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/main/n.txt", timeout=30)
    assert r.content == b"2\n"


def test_hf_file_system(hub, populated):
    fs = HfFileSystem(endpoint=hub.endpoint, token=hub.token("alice"))
    rid = populated.repo_id
    assert sorted(fs.ls(f"{rid}/dir", detail=False)) == [f"{rid}/dir/a.txt", f"{rid}/dir/sub"]
    assert sorted(fs.glob(f"{rid}/**/*.txt")) == sorted(
        f"{rid}/{p}" for p in populated.files if p.endswith(".txt"))
    info = fs.info(f"{rid}/weights.bin")
    assert info["size"] == len(populated.files["weights.bin"]) and info["type"] == "file"
    assert fs.exists(f"{rid}/dir/sub/b.txt") and not fs.exists(f"{rid}/dir/none.txt")
    assert fs.isdir(f"{rid}/old/y")

    weights = populated.files["weights.bin"]
    with fs.open(f"{rid}/weights.bin", "rb", block_size=4096) as f:
        f.seek(12345)
        assert f.read(5000) == weights[12345:17345]
        f.seek(len(weights) - 100)
        assert f.read() == weights[-100:]
    with fs.open(f"{rid}/weights.bin", "rb", block_size=0) as f:  # streaming: forward reads only
        assert f.read(70_000) == weights[:70_000]
        assert f.read(1000) == weights[70_000:71_000]
        assert f.read() == weights[71_000:]
    assert fs.cat_file(f"{rid}@v1.0/dir/a.txt") == populated.v1["dir/a.txt"]
    assert fs.read_bytes(f"{rid}/dir/a.txt", start=2, end=7) == populated.files["dir/a.txt"][2:7]


@pytest.fixture
def scratch(tmp_path_factory):
    """A temp folder removed after the test (pytest keeps its own temp dirs, too big with a 500 MB file)."""
    path = tmp_path_factory.mktemp("scratch")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_upload_folder_large_files(hub, api, scratch, transfer):
    """upload_folder with small files and three LFS files > 10 MB (the largest LARGE_MB, default 500),
    through Xet and through the LFS batch API; the server's counters show which path carried them."""
    src = scratch / "src"
    expected: dict[str, str] = {}
    for i in range(5):
        data = f"small file {i}\n".encode() * (i + 1)
        p = src / ("nested/deeper" if i % 2 else "") / f"small{i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        expected[str(p.relative_to(src))] = sha256_bytes(data)
    # data.dat matches no LFS pattern: it is LFS only because it is > 10 MB
    for name, mb in [("data.dat", 11), ("mid/weights.safetensors", 24), ("big/model.bin", LARGE_MB)]:
        expected[name] = write_random_file(src / name, mb << 20)

    rid = hub.repo_id("large")
    api.create_repo(rid)
    rss_before = _peak_rss_mb(hub)
    c0 = server_counters(hub.endpoint, hub.token("alice"))
    info = api.upload_folder(repo_id=rid, folder_path=src, commit_message="large upload")
    assert HEX40.match(info.oid)
    up = counters_delta(c0, server_counters(hub.endpoint, hub.token("alice")))
    large_bytes = (11 + 24 + LARGE_MB) << 20
    if transfer == "xet":
        assert up["xet_xorb_bytes_received"] >= large_bytes * 0.99 and up["xet_shards_received"] >= 1, up
        assert up["ingested_bytes"] == 0, up
    else:
        assert up["ingested_bytes"] >= large_bytes and up["xet_xorbs_received"] == 0, up

    tree = {e.path: e for e in api.list_repo_tree(rid, recursive=True) if type(e).__name__ == "RepoFile"}
    for name in ("data.dat", "mid/weights.safetensors", "big/model.bin"):
        assert tree[name].lfs is not None, f"{name} should be an LFS file"
        assert tree[name].lfs.sha256 == expected[name]
        assert tree[name].size == (src / name).stat().st_size

    c1 = server_counters(hub.endpoint, hub.token("alice"))
    out = Path(snapshot_download(rid, cache_dir=scratch / "cache"))
    down = counters_delta(c1, server_counters(hub.endpoint, hub.token("alice")))
    if transfer == "xet":  # random data: xorb ranges are about as large as the files
        assert down["xet_xorb_bytes_served"] >= large_bytes * 0.99 and down["bytes_served"] == 0, down
    else:
        assert down["bytes_served"] >= large_bytes and down["xet_xorb_bytes_served"] == 0, down
    got = {str(p.relative_to(out)): p for p in out.rglob("*") if p.is_file()}
    assert set(got) == set(expected) | {".gitattributes"}
    for name, digest in expected.items():
        assert sha256_file(got[name]) == digest, f"{name} differs after the round trip"
    if rss_before is not None and LARGE_MB >= 200:
        growth = _peak_rss_mb(hub) - rss_before
        assert growth < LARGE_MB / 2, (f"server peak RSS grew by {growth:.0f} MB while moving a {LARGE_MB} MB "
                                       f"file: memory per request should not grow with file size")


def test_concurrent_commits_without_parent_all_apply(hub, api):
    """Commits without parentCommit apply on the latest head, serialized: none is lost."""
    from concurrent.futures import ThreadPoolExecutor

    rid = hub.repo_id("concurrent")
    api.create_repo(rid)
    n = 8

    def commit(i: int) -> str:
        return api.upload_file(path_or_fileobj=f"writer {i}\n".encode(), path_in_repo=f"w/{i}.txt", repo_id=rid,
                               commit_message=f"writer {i}").oid

    with ThreadPoolExecutor(max_workers=n) as pool:
        oids = list(pool.map(commit, range(n)))
    assert len(set(oids)) == n
    assert {f"w/{i}.txt" for i in range(n)} <= set(api.list_repo_files(rid))
    assert len(api.list_repo_commits(rid)) == n + 1


def test_resolve_directory_is_entry_not_found(hub, populated):
    r = requests.head(f"{hub.endpoint}/{populated.repo_id}/resolve/main/dir", timeout=30)
    assert r.status_code == 404 and r.headers.get("X-Error-Code") == "EntryNotFound", describe(r)
    assert r.headers.get("X-Repo-Commit") == populated.c2, describe(r)


def test_invalid_branch_names(hub, api, populated):
    for bad in ("refs/heads/x", "has space", "a..b", "ends.lock", "-dash"):
        with pytest.raises(HfHubHTTPError) as e:
            api.create_branch(populated.repo_id, branch=bad)
        assert 400 <= e.value.response.status_code < 500 and e.value.response.status_code != 404, \
            f"{bad!r}: {describe(e.value.response)}"
    assert sorted(b.name for b in api.list_repo_refs(populated.repo_id).branches) == ["dev", "main"]


def test_upload_folder_many_inline_megabytes(hub, api, scratch):
    """~100 MB of regular (non-LFS) text in one NDJSON commit: the legacy upload_folder path inlines it all."""
    src = scratch / "text"
    src.mkdir()
    expected = {}
    line = b"the quick brown fox jumps over the lazy dog 0123456789\n"
    for i in range(12):
        data = line * ((9 << 20) // len(line)) + f"file {i}\n".encode()
        (src / f"part{i:02d}.txt").write_bytes(data)
        expected[f"part{i:02d}.txt"] = sha256_bytes(data)
    rid = hub.repo_id("inline")
    api.create_repo(rid)
    api.upload_folder(repo_id=rid, folder_path=src, commit_message="many inline megabytes")
    tree = {e.path: e for e in api.list_repo_tree(rid)}
    for name in expected:
        assert tree[name].lfs is None, f"{name} is < 10 MB text: preupload should answer regular"
    out = Path(snapshot_download(rid, cache_dir=scratch / "cache"))
    for name, digest in expected.items():
        assert sha256_file(out / name) == digest, name

"""git + git-lfs over smart HTTP against the real server, driven by the real git and git-lfs CLIs.

Covers: clone (model, dataset, with/without .git, protocol v0 and v2, gzip request bodies), auth
(anonymous, Basic with a token, readers vs writers, private repos), git-lfs (push, clone + pull
byte-identical, locks), one history shared with the HF API (both directions), the pre-receive
policy (oversized non-LFS files, protected default branch, hub-managed refs), push vs API commit
races, and git being stopped when the client goes away.

Every test gets its own HOME and GIT_CONFIG_GLOBAL: nothing reads or writes the machine's git config.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from _util import describe, server_repo_dir, sha256_bytes, sha256_file, write_random_file


def _have_git_lfs() -> bool:
    if not shutil.which("git"):
        return False
    return subprocess.run(["git", "lfs", "version"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def git_ok(hub):
    if not _have_git_lfs():
        pytest.skip("git and git-lfs are needed (scripts/install-deps.sh installs them)")
    probe = requests.get(f"{hub.endpoint}/alice/any-repo.git/info/refs?service=git-upload-pack", timeout=30)
    if probe.status_code == 501:
        pytest.skip(f"server answers 501 Not Implemented for git smart HTTP ({probe.headers.get('X-Error-Message')})")
    return True


def make_git_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "gitconfig"
    cfg.write_text(
        "[user]\n\tname = E2E\n\temail = e2e@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n"
        '[filter "lfs"]\n\tclean = git-lfs clean -- %f\n\tsmudge = git-lfs smudge -- %f\n'
        "\tprocess = git-lfs filter-process\n\trequired = true\n"
        "[credential]\n\thelper =\n"
        "[advice]\n\tdetachedHead = false\n")
    env = dict(os.environ, GIT_CONFIG_GLOBAL=str(cfg), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0",
               HOME=str(home), GIT_ASKPASS="/bin/false", SSH_ASKPASS="/bin/false", LC_ALL="C")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_TRACE", "GIT_TRACE_PACKET", "GIT_TRACE_CURL", "GIT_PROTOCOL"):
        env.pop(var, None)
    return env


@pytest.fixture
def git_env(git_ok, tmp_path):
    return make_git_env(tmp_path / "githome")


@pytest.fixture(scope="module")
def git_repo(hub, api, git_ok):
    from huggingface_hub import CommitOperationAdd

    rid = hub.repo_id("git")
    api.create_repo(rid)
    files = {"README.md": b"# git\n", "src/a.txt": b"a\n", "weights.bin": os.urandom(100_000)}
    c = api.create_commit(rid, [CommitOperationAdd(p, d) for p, d in files.items()], commit_message="for git")
    return rid, files, c.oid


def git(env, *args, cwd=None, check=True, timeout=300, extra_env=None):
    cp = subprocess.run(["git", *args], cwd=cwd, env={**env, **(extra_env or {})}, capture_output=True, text=True,
                        timeout=timeout, stdin=subprocess.DEVNULL)
    if check:
        assert cp.returncode == 0, f"git {' '.join(args)} -> {cp.returncode}\n{cp.stdout[-2000:]}\n{cp.stderr[-3000:]}"
    return cp


def authed(hub, user: str, rid: str, token: str | None = None, prefix: str = "") -> str:
    host = hub.endpoint.split("://", 1)[1]
    return f"http://{user}:{token or hub.token(user)}@{host}/{prefix}{rid}"


def rev(env, cwd, what="HEAD") -> str:
    return git(env, "rev-parse", what, cwd=cwd).stdout.strip()


def commit_file(env, cwd: Path, name: str, data: bytes | str, message: str) -> str:
    p = cwd / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    git(env, "add", name, cwd=cwd)
    git(env, "commit", "-q", "-m", message, cwd=cwd)
    return rev(env, cwd)




# ---- clone / fetch --------------------------------------------------------------------------------


def test_git_clone_with_lfs(hub, git_repo, git_env, tmp_path):
    rid, files, head = git_repo
    for url in (f"{hub.endpoint}/{rid}", f"{hub.endpoint}/{rid}.git"):
        dest = tmp_path / url.rsplit("/", 1)[1]
        git(git_env, "clone", url, str(dest))
        assert rev(git_env, dest) == head
        for name, data in files.items():
            assert (dest / name).read_bytes() == data, f"{name} (LFS files must be smudged)"


def test_clone_dataset_anonymous(hub, api, git_env, tmp_path):
    rid = hub.repo_id("git-ds")
    api.create_repo(rid, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"a,b\n1,2\n", path_in_repo="data.csv", repo_id=rid, repo_type="dataset")
    head = api.dataset_info(rid).sha
    for suffix in ("", ".git"):
        dest = tmp_path / f"ds{suffix}"
        git(git_env, "clone", f"{hub.endpoint}/datasets/{rid}{suffix}", str(dest))
        assert rev(git_env, dest) == head
        assert (dest / "data.csv").read_bytes() == b"a,b\n1,2\n"
    # a dataset is not a model: the model URL of the same name is unknown
    cp = git(git_env, "clone", f"{hub.endpoint}/{rid}", str(tmp_path / "nope"), check=False)
    assert cp.returncode != 0


def test_protocol_v2_clone_and_fetch(hub, api, git_repo, git_env, tmp_path):
    rid, files, head = git_repo
    dest = tmp_path / "v2"
    cp = git(git_env, "-c", "protocol.version=2", "clone", f"{hub.endpoint}/{rid}", str(dest),
             extra_env={"GIT_TRACE_PACKET": "1"})
    assert "git< version 2" in cp.stderr, "the server must speak protocol v2 when asked"
    assert rev(git_env, dest) == head
    assert (dest / "weights.bin").read_bytes() == files["weights.bin"]
    # v2 ls-refs with a prefix, and a fetch
    cp = git(git_env, "-c", "protocol.version=2", "ls-remote", f"{hub.endpoint}/{rid}", "refs/heads/main")
    assert cp.stdout.split()[0] == api.model_info(rid).sha
    git(git_env, "-c", "protocol.version=2", "fetch", "origin", cwd=dest)
    # v0 still works
    cp = git(git_env, "-c", "protocol.version=0", "clone", f"{hub.endpoint}/{rid}", str(tmp_path / "v0"),
             extra_env={"GIT_TRACE_PACKET": "1"})
    assert "git< version 2" not in cp.stderr
    # shallow clone, then unshallow, over v0 (stateless shallow negotiation)
    shallow = tmp_path / "shallow"
    git(git_env, "-c", "protocol.version=0", "clone", "--depth", "1", f"{hub.endpoint}/{rid}", str(shallow))
    assert git(git_env, "rev-list", "--count", "HEAD", cwd=shallow).stdout.strip() == "1"
    git(git_env, "-c", "protocol.version=0", "fetch", "--unshallow", cwd=shallow)
    assert int(git(git_env, "rev-list", "--count", "HEAD", cwd=shallow).stdout) >= 2
    # partial clone (filter) is allowed
    git(git_env, "clone", "--filter=blob:none", f"{hub.endpoint}/{rid}", str(tmp_path / "partial"))
    assert (tmp_path / "partial" / "src" / "a.txt").read_bytes() == b"a\n"


def test_fetch_with_gzip_request_body(hub, api, git_env, tmp_path):
    """Many 'have' lines make git gzip its upload-pack request; the server inflates it while streaming."""
    rid = hub.repo_id("git-gzip")
    api.create_repo(rid)
    dest = tmp_path / "work"
    git(git_env, "clone", authed(hub, "alice", rid), str(dest))
    git(git_env, "checkout", "-q", "-b", "local", cwd=dest)
    # Local commits dated after everything on the server, so git's negotiation sends them (unknown to
    # the server) first and the request grows past git's 1 KiB gzip threshold; with equal timestamps the
    # common commit could come first and end negotiation early (seen as a flake).
    for i in range(60):
        (dest / "local.txt").write_text(f"{i}\n")
        git(git_env, "add", "local.txt", cwd=dest)
        date = f"{2000000000 + i} +0000"
        git(git_env, "commit", "-q", "-m", f"local {i}", cwd=dest,
            extra_env={"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})
    api.upload_file(path_or_fileobj=b"new\n", path_in_repo="remote.txt", repo_id=rid)
    cp = git(git_env, "fetch", "origin", cwd=dest, extra_env={"GIT_TRACE_CURL": "1", "GIT_TRACE_CURL_NO_DATA": "1"})
    assert "Content-Encoding: gzip" in cp.stderr, "expected git to gzip the upload-pack request"
    assert rev(git_env, dest, "origin/main") == api.model_info(rid).sha


def test_dumb_http_and_unknown_service_refused(hub, git_repo, git_ok):
    rid, *_ = git_repo
    r = requests.get(f"{hub.endpoint}/{rid}.git/info/refs", timeout=30)
    assert r.status_code == 403 and "smart HTTP" in r.text, describe(r)
    r = requests.get(f"{hub.endpoint}/{rid}.git/info/refs?service=git-upload-archive", timeout=30)
    assert r.status_code == 403, describe(r)
    r = requests.get(f"{hub.endpoint}/{rid}.git/info/refs?service=git-upload-pack", timeout=30)
    assert r.status_code == 200, describe(r)
    assert r.headers["content-type"] == "application/x-git-upload-pack-advertisement"
    assert r.content.startswith(b"001e# service=git-upload-pack\n0000")
    r = requests.get(f"{hub.endpoint}/{rid}.git/info/refs?service=git-upload-pack",
                     headers={"Git-Protocol": "version=2"}, timeout=30)
    assert r.status_code == 200 and r.content.startswith(b"000eversion 2\n"), r.content[:64]
    r = requests.post(f"{hub.endpoint}/{rid}.git/git-upload-pack", data=b"0000",
                      headers={"content-type": "text/plain"}, timeout=30)
    assert r.status_code == 415, describe(r)
    bad_gzip = requests.post(f"{hub.endpoint}/{rid}.git/git-upload-pack", data=b"\x1f\x8bnot gzip at all",
                             headers={"content-type": "application/x-git-upload-pack-request",
                                      "content-encoding": "gzip"}, timeout=30)
    assert bad_gzip.status_code == 400, describe(bad_gzip)


# ---- auth ------------------------------------------------------------------------------------------


def test_git_private_repo_needs_credentials(hub, api, git_env, tmp_path):
    rid = hub.repo_id("git-private")
    api.create_repo(rid, private=True)
    cp = git(git_env, "clone", f"{hub.endpoint}/{rid}", str(tmp_path / "anon"), check=False)
    assert cp.returncode != 0
    # git was asked for credentials (401 + Basic challenge), not told "not found"
    r = requests.get(f"{hub.endpoint}/{rid}.git/info/refs?service=git-upload-pack", timeout=30)
    assert r.status_code == 401 and r.headers.get("WWW-Authenticate", "").startswith("Basic"), describe(r)
    # the same answer for a repo that does not exist: outsiders learn nothing
    r2 = requests.get(f"{hub.endpoint}/alice/does-not-exist-{os.getpid()}.git/info/refs?service=git-upload-pack",
                      timeout=30)
    assert r2.status_code == 401, describe(r2)
    cp = git(git_env, "clone", authed(hub, "bob", rid), str(tmp_path / "bob"), check=False)
    assert cp.returncode != 0 and "not found" in cp.stderr, cp.stderr
    cp = git(git_env, "clone", authed(hub, "alice", rid, token="hf_notavalidtoken0000000000000000000"),
             str(tmp_path / "bad"), check=False)
    assert cp.returncode != 0
    git(git_env, "clone", authed(hub, "alice", rid), str(tmp_path / "alice"))
    assert (tmp_path / "alice" / ".gitattributes").exists()
    # a credential helper (git's usual path) works too: the 401 makes git ask it
    helper = tmp_path / "cred.sh"
    helper.write_text(f"#!/bin/sh\necho username=alice\necho password={hub.token('alice')}\n")
    helper.chmod(0o755)
    git(git_env, "-c", f"credential.helper={helper}", "clone", f"{hub.endpoint}/{rid}", str(tmp_path / "helper"))


def test_git_push_without_write_access(hub, api, git_repo, git_env, tmp_path):
    rid, _, _ = git_repo
    before = api.model_info(rid).sha
    dest = tmp_path / "bob"
    git(git_env, "clone", authed(hub, "bob", rid), str(dest))
    commit_file(git_env, dest, "bob.txt", "bob was here\n", "bob")
    cp = git(git_env, "push", "origin", "main", cwd=dest, check=False)
    assert cp.returncode != 0
    assert "remote: You may not push to" in cp.stderr and "403" in cp.stderr, cp.stderr
    # anonymous push: asked for credentials
    cp = git(git_env, "push", f"{hub.endpoint}/{rid}", "main", cwd=dest, check=False)
    assert cp.returncode != 0 and "Username" in cp.stderr, cp.stderr
    # alice with a read-only token
    read_token = hub.create_token("alice", "read")
    cp = git(git_env, "push", authed(hub, "alice", rid, token=read_token), "main", cwd=dest, check=False)
    assert cp.returncode != 0 and "write role" in cp.stderr, cp.stderr
    assert api.model_info(rid).sha == before


# ---- push, LFS, one history ------------------------------------------------------------------------


def test_git_push_with_lfs(hub, api, git_repo, git_env, tmp_path):
    rid, files, _ = git_repo
    dest = tmp_path / "work"
    git(git_env, "clone", authed(hub, "alice", rid), str(dest))
    big = os.urandom(300_000)
    (dest / "pushed.bin").write_bytes(big)
    (dest / "pushed.txt").write_text("pushed with git\n")
    git(git_env, "add", "pushed.bin", "pushed.txt", cwd=dest)
    git(git_env, "commit", "-m", "pushed with git", cwd=dest)
    git(git_env, "push", "origin", "main", cwd=dest)
    new_head = rev(git_env, dest)

    info = api.model_info(rid, files_metadata=True)
    assert info.sha == new_head, "the HTTP API and git must be one source of truth"
    sib = {s.rfilename: s for s in info.siblings}
    assert sib["pushed.bin"].lfs is not None and sib["pushed.bin"].lfs.sha256 == sha256_bytes(big)
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/main/pushed.bin", timeout=30)
    assert r.status_code == 200 and r.content == big and r.headers.get("X-Repo-Commit") == new_head, describe(r)


def test_lfs_safetensors_roundtrip_and_hf_api(hub, api, git_env, tmp_path, fresh_cache):
    """git lfs track + push; clone elsewhere + git lfs pull byte-identical; huggingface_hub sees it all."""
    from huggingface_hub import hf_hub_download

    rid = hub.repo_id("git-lfs")
    api.create_repo(rid)
    work = tmp_path / "work"
    git(git_env, "clone", authed(hub, "alice", rid), str(work))
    git(git_env, "lfs", "install", "--local", cwd=work)
    git(git_env, "lfs", "track", "*.safetensors", cwd=work)
    sha = write_random_file(work / "model.safetensors", 12 << 20)
    (work / "config.json").write_text('{"hidden_size": 8}\n')
    git(git_env, "add", ".gitattributes", "model.safetensors", "config.json", cwd=work)
    git(git_env, "commit", "-q", "-m", "add weights via git", cwd=work)
    git(git_env, "push", "origin", "main", cwd=work)
    head = rev(git_env, work)
    # the stored blob is a pointer, not the weights
    pointer = git(git_env, "cat-file", "-p", "HEAD:model.safetensors", cwd=work).stdout
    assert pointer.startswith("version https://git-lfs.github.com/spec/v1") and sha in pointer

    # huggingface_hub: commit list, refs, file metadata, download
    commits = api.list_repo_commits(rid)
    assert commits[0].commit_id == head and commits[0].title == "add weights via git"
    assert api.list_repo_refs(rid).branches[0].target_commit == head
    info = api.model_info(rid, files_metadata=True)
    sib = {s.rfilename: s for s in info.siblings}
    assert sib["model.safetensors"].lfs.sha256 == sha and sib["model.safetensors"].size == 12 << 20
    path = hf_hub_download(rid, "model.safetensors", cache_dir=fresh_cache)
    assert sha256_file(path) == sha
    assert Path(hf_hub_download(rid, "config.json", cache_dir=fresh_cache)).read_text() == '{"hidden_size": 8}\n'

    # clone elsewhere without smudging, then git lfs pull
    other = tmp_path / "other"
    git(git_env, "clone", authed(hub, "alice", rid), str(other), extra_env={"GIT_LFS_SKIP_SMUDGE": "1"})
    assert (other / "model.safetensors").stat().st_size < 1024, "pointer expected before git lfs pull"
    git(git_env, "lfs", "install", "--local", cwd=other)
    git(git_env, "lfs", "pull", cwd=other)
    assert sha256_file(other / "model.safetensors") == sha
    assert (other / "model.safetensors").read_bytes() == (work / "model.safetensors").read_bytes()


def test_hf_upload_arrives_with_git_pull(hub, api, git_env, tmp_path):
    rid = hub.repo_id("git-pull")
    api.create_repo(rid)
    work = tmp_path / "work"
    git(git_env, "clone", authed(hub, "alice", rid), str(work))
    big = os.urandom(11 << 20)  # LFS through huggingface_hub
    api.upload_file(path_or_fileobj=b"uploaded with huggingface_hub\n", path_in_repo="docs/hf.txt", repo_id=rid)
    c = api.upload_file(path_or_fileobj=big, path_in_repo="blob.bin", repo_id=rid)
    git(git_env, "pull", "-q", "--ff-only", cwd=work)
    assert rev(git_env, work) == c.oid
    assert (work / "docs" / "hf.txt").read_bytes() == b"uploaded with huggingface_hub\n"
    assert (work / "blob.bin").read_bytes() == big, "LFS file smudged through the batch API"
    log = git(git_env, "log", "--format=%s", cwd=work).stdout.splitlines()
    assert len(log) == 3 and log[-1] == "initial commit", log


def test_oversized_non_lfs_file_refused(hub, api, git_env, tmp_path):
    rid = hub.repo_id("git-big")
    api.create_repo(rid)
    before = api.model_info(rid).sha
    work = tmp_path / "work"
    git(git_env, "clone", authed(hub, "alice", rid), str(work))
    # not covered by the default .gitattributes (which tracks *.bin, *.safetensors, ...)
    git(git_env, "config", "filter.lfs.required", "false", cwd=work)
    commit_file(git_env, work, "data/huge.dat", os.urandom((10 << 20) + 1), "too big for git")
    cp = git(git_env, "push", "origin", "main", cwd=work, check=False)
    assert cp.returncode != 0
    assert "data/huge.dat is 10.0 MiB" in cp.stderr and "above the 10.0 MiB limit" in cp.stderr, cp.stderr
    assert 'git lfs track "*.dat"' in cp.stderr, cp.stderr
    assert "pre-receive hook declined" in cp.stderr
    assert api.model_info(rid).sha == before
    # a file just under the limit is fine
    git(git_env, "reset", "-q", "--hard", "origin/main", cwd=work)
    commit_file(git_env, work, "data/ok.dat", os.urandom(1 << 20), "fits")
    git(git_env, "push", "origin", "main", cwd=work)
    assert api.model_info(rid).sha == rev(git_env, work)


def test_pushed_lfs_pointer_must_name_an_uploaded_object(hub, api, git_env, tmp_path):
    """A pointer to another repository's LFS object (known only by its hash) is refused, as on the HTTP API."""
    secret_rid = hub.repo_id("git-secret")
    api.create_repo(secret_rid, private=True)
    secret = os.urandom(11 << 20)
    api.upload_file(path_or_fileobj=secret, path_in_repo="secret.bin", repo_id=secret_rid)
    oid = sha256_bytes(secret)

    rid = hub.repo_id("git-thief")
    api.create_repo(rid, repo_type="model")
    before = api.model_info(rid).sha
    work = tmp_path / "work"
    git(git_env, "clone", authed(hub, "alice", rid), str(work))
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(secret)}\n"
    commit_file(git_env, work, "stolen.dat", pointer, "claim an object by its hash")
    # --no-verify: skip git-lfs's own pre-push checks, as an attacker would
    cp = git(git_env, "push", "--no-verify", "origin", "main", cwd=work, check=False)
    assert cp.returncode != 0, cp.stderr
    assert f"LFS object {oid} was never uploaded to this repository" in cp.stderr, cp.stderr
    assert "git lfs push --all origin" in cp.stderr
    assert api.model_info(rid).sha == before
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/main/stolen.dat", timeout=30)
    assert r.status_code == 404, describe(r)

    # a pointer with the wrong size for an object this repo did upload is refused too
    git(git_env, "reset", "-q", "--hard", "origin/main", cwd=work)
    mine = os.urandom(5000)
    api.upload_file(path_or_fileobj=mine, path_in_repo="mine.bin", repo_id=rid)
    git(git_env, "pull", "-q", "--ff-only", cwd=work)
    bad = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256_bytes(mine)}\nsize 4999\n"
    commit_file(git_env, work, "copy.dat", bad, "wrong size")
    cp = git(git_env, "push", "--no-verify", "origin", "main", cwd=work, check=False)
    assert cp.returncode != 0 and "LFS pointer says 4999 bytes" in cp.stderr, cp.stderr
    # the right size is fine: the object belongs to this repo
    git(git_env, "reset", "-q", "--hard", "origin/main", cwd=work)
    good = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256_bytes(mine)}\nsize 5000\n"
    commit_file(git_env, work, "copy.dat", good, "same object, second path")
    git(git_env, "push", "--no-verify", "origin", "main", cwd=work)
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/main/copy.dat", timeout=30)
    assert r.status_code == 200 and r.content == mine, describe(r)


def test_force_push_branches_and_tags(hub, api, git_env, tmp_path):
    rid = hub.repo_id("git-force")
    api.create_repo(rid)
    work = tmp_path / "work"
    git(git_env, "clone", authed(hub, "alice", rid), str(work))
    first = commit_file(git_env, work, "a.txt", "1\n", "one")
    git(git_env, "push", "origin", "main", cwd=work)
    commit_file(git_env, work, "a.txt", "2\n", "two")
    git(git_env, "push", "origin", "main", cwd=work)

    # rewriting main is refused
    git(git_env, "reset", "-q", "--hard", first, cwd=work)
    rewritten = commit_file(git_env, work, "a.txt", "rewritten\n", "rewritten")
    cp = git(git_env, "push", "-f", "origin", "main", cwd=work, check=False)
    assert cp.returncode != 0 and "protected default branch" in cp.stderr, cp.stderr
    cp = git(git_env, "push", "origin", ":main", cwd=work, check=False)
    assert cp.returncode != 0 and "cannot be deleted" in cp.stderr, cp.stderr

    # ...but allowed on another branch, which can also be deleted
    git(git_env, "push", "origin", "HEAD:refs/heads/feature", cwd=work)
    git(git_env, "reset", "-q", "--hard", first, cwd=work)
    git(git_env, "push", "-f", "origin", "HEAD:feature", cwd=work)
    branches = {b.name: b.target_commit for b in api.list_repo_refs(rid).branches}
    assert branches["feature"] == first and branches["main"] != rewritten
    git(git_env, "push", "origin", ":feature", cwd=work)
    assert "feature" not in {b.name for b in api.list_repo_refs(rid).branches}

    # tags: lightweight and annotated, visible through the API
    git(git_env, "tag", "v1.0", first, cwd=work)
    git(git_env, "tag", "-a", "v2.0", "-m", "release 2", "origin/main", cwd=work)
    git(git_env, "push", "origin", "v1.0", "v2.0", cwd=work)
    refs = api.list_repo_refs(rid)
    tags = {t.name: t.target_commit for t in refs.tags}
    assert tags["v1.0"] == first and tags["v2.0"] == rev(git_env, work, "origin/main"), tags
    r = requests.get(f"{hub.endpoint}/api/models/{rid}/refs", timeout=30)
    assert {t["ref"] for t in r.json()["tags"]} >= {"refs/tags/v1.0", "refs/tags/v2.0"}, r.text

    # hub-managed refs cannot be pushed
    cp = git(git_env, "push", "origin", "HEAD:refs/pr/1", cwd=work, check=False)
    assert cp.returncode != 0 and "managed by the hub" in cp.stderr, cp.stderr


def test_push_and_api_commit_race(hub, api, git_env, tmp_path):
    """A push and an HF API commit from the same parent, at the same time: exactly one wins each round."""
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    rid = hub.repo_id("git-race")
    api.create_repo(rid)
    work = tmp_path / "work"
    git(git_env, "clone", authed(hub, "alice", rid), str(work))
    wins = {"git": 0, "api": 0}
    expected_len = 1
    for i in range(10):
        git(git_env, "fetch", "-q", "origin", cwd=work)
        git(git_env, "reset", "-q", "--hard", "origin/main", cwd=work)
        parent = rev(git_env, work)
        local = commit_file(git_env, work, f"git-{i}.txt", f"git {i}\n", f"git {i}")
        api_result: dict = {}
        barrier = threading.Barrier(2)

        def api_commit():
            barrier.wait()
            time.sleep(0.03 * i)  # from "before the push starts" to "after it finished": both orders happen
            try:
                api_result["oid"] = api.create_commit(rid, [CommitOperationAdd(f"api-{i}.txt", f"api {i}\n".encode())],
                                                      commit_message=f"api {i}", parent_commit=parent).oid
            except HfHubHTTPError as e:
                api_result["error"] = e

        t = threading.Thread(target=api_commit)
        t.start()
        barrier.wait()
        cp = git(git_env, "push", "origin", "main", cwd=work, check=False)
        t.join(60)
        git_won = cp.returncode == 0
        api_won = "oid" in api_result
        assert git_won != api_won, f"round {i}: exactly one must win (git rc={cp.returncode}, api={api_result})\n{cp.stderr}"
        head = api.model_info(rid).sha
        if git_won:
            wins["git"] += 1
            assert head == local
            assert api_result["error"].response.status_code == 412, api_result
        else:
            wins["api"] += 1
            assert head == api_result["oid"]
            assert "rejected" in cp.stderr or "fetch first" in cp.stderr, cp.stderr
            print(f"round {i}: api won; git said: {[ln for ln in cp.stderr.splitlines() if '!' in ln]}")
        expected_len += 1
        commits = api.list_repo_commits(rid)
        assert len(commits) == expected_len and commits[1].commit_id == parent, f"round {i}: history must be linear"

    # history intact, repository consistent on both ends
    check = tmp_path / "check"
    git(git_env, "clone", "-q", authed(hub, "alice", rid), str(check))
    git(git_env, "fsck", "--full", "--strict", cwd=check)
    files = {p.name for p in check.iterdir() if p.name.startswith(("git-", "api-"))}
    assert len(files) == 10, files
    server_dir = server_repo_dir(hub, rev(git_env, check))
    cp = subprocess.run(["git", "--git-dir", str(server_dir), "fsck", "--full", "--strict"], capture_output=True,
                        text=True, env=git_env)
    assert cp.returncode == 0, cp.stderr
    assert not list(server_dir.glob("refs/heads/*.lock")), "no lock file may be left behind"
    print(f"race winners over 10 rounds: {wins}")


def test_lfs_locks(hub, api, git_env, tmp_path):
    rid = hub.repo_id("git-locks")
    api.create_repo(rid)
    alice = tmp_path / "alice"
    bob_env = make_git_env(tmp_path / "bobhome")
    git(git_env, "clone", authed(hub, "alice", rid), str(alice))
    git(git_env, "lfs", "install", "--local", cwd=alice)
    commit_file(git_env, alice, "w.bin", os.urandom(2000), "weights")
    git(git_env, "push", "origin", "main", cwd=alice)

    cp = git(git_env, "lfs", "lock", "w.bin", "--json", cwd=alice)
    assert '"path":"w.bin"' in cp.stdout.replace(" ", ""), cp.stdout
    cp = git(git_env, "lfs", "locks", cwd=alice)
    assert "w.bin" in cp.stdout and "alice" in cp.stdout
    assert git(git_env, "lfs", "lock", "w.bin", cwd=alice, check=False).returncode != 0  # already locked

    # bob (a writer through an org of this test's own) cannot push over alice's lock, nor unlock it without --force
    org = hub.unique("lockorg")
    hub.admin("org", "create", org, "--owner", "alice")
    hub.admin("org", "add-member", org, "bob", "--role", "write")
    org_rid = f"{org}/{hub.unique('git-locks')}"
    api.create_repo(org_rid)
    a2 = tmp_path / "a2"
    git(git_env, "clone", authed(hub, "alice", org_rid), str(a2))
    git(git_env, "lfs", "install", "--local", cwd=a2)
    commit_file(git_env, a2, "w.bin", os.urandom(2000), "weights")
    git(git_env, "push", "origin", "main", cwd=a2)
    git(git_env, "lfs", "lock", "w.bin", cwd=a2)
    b2 = tmp_path / "b2"
    git(bob_env, "clone", authed(hub, "bob", org_rid), str(b2))
    git(bob_env, "lfs", "install", "--local", cwd=b2)
    git(bob_env, "config", "lfs.locksverify", "true", cwd=b2)  # halt pushes over their locks
    (b2 / "w.bin").write_bytes(os.urandom(2000))
    git(bob_env, "commit", "-q", "-am", "bob edits a locked file", cwd=b2)
    cp = git(bob_env, "push", "origin", "main", cwd=b2, check=False)
    out = cp.stdout + cp.stderr
    assert cp.returncode != 0 and "Cannot update locked files" in out and "w.bin" in out and "alice" in out, out
    lock_id = git(bob_env, "lfs", "locks", "--json", cwd=b2).stdout
    assert "alice" in lock_id
    cp = git(bob_env, "lfs", "unlock", "w.bin", cwd=b2, check=False)
    assert cp.returncode != 0
    git(bob_env, "lfs", "unlock", "--force", "w.bin", cwd=b2)
    git(bob_env, "push", "origin", "main", cwd=b2)

    # alice unlocks her own lock in the first repo; anonymous users may list but not lock
    git(git_env, "lfs", "unlock", "w.bin", cwd=alice)
    assert "w.bin" not in git(git_env, "lfs", "locks", cwd=alice).stdout
    r = requests.get(f"{hub.endpoint}/{rid}.git/info/lfs/locks", timeout=30,
                     headers={"accept": "application/vnd.git-lfs+json"})
    assert r.status_code == 200 and r.json() == {"locks": []}, describe(r)
    r = requests.post(f"{hub.endpoint}/{rid}.git/info/lfs/locks", json={"path": "w.bin"}, timeout=30,
                      headers={"accept": "application/vnd.git-lfs+json"})
    assert r.status_code == 401 and "LFS-Authenticate" in r.headers, describe(r)


def test_client_going_away_stops_git(hub, api, git_ok):
    """A push whose client disappears mid-body must not leave git receive-pack running."""
    rid = hub.repo_id("git-gone")
    api.create_repo(rid)
    host, port = hub.endpoint.split("://", 1)[1].split(":")
    creds = base64.b64encode(f"alice:{hub.token('alice')}".encode()).decode()
    s = socket.create_connection((host, int(port)), timeout=30)
    s.sendall((f"POST /{rid}.git/git-receive-pack HTTP/1.1\r\nHost: {host}\r\n"
               f"Authorization: Basic {creds}\r\nContent-Type: application/x-git-receive-pack-request\r\n"
               f"Content-Length: 100000000\r\n\r\n").encode())
    s.sendall(b"00a0" + b"0" * 50)  # the start of a pkt-line: receive-pack waits for the rest

    def receive_packs() -> list[str]:
        out = subprocess.run(["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True).stdout
        return [line for line in out.splitlines() if "receive-pack" in line and str(hub.data_dir) in line]

    deadline = time.monotonic() + 10
    while not receive_packs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receive_packs(), "git receive-pack should be running while the body streams"
    s.close()
    deadline = time.monotonic() + 10
    while receive_packs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not receive_packs(), "git receive-pack must be stopped when the client goes away"
    assert requests.get(f"{hub.endpoint}/health", timeout=10).status_code == 200

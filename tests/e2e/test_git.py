"""git + git-lfs over smart HTTP against the server: clone (with LFS smudge), push (with LFS upload), auth.
Skipped as a whole while the server answers 501 Not Implemented on the git endpoints."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from _util import describe, sha256_bytes


@pytest.fixture(scope="module")
def git_env(hub, tmp_path_factory):
    if not shutil.which("git") or subprocess.run(["git", "lfs", "version"], capture_output=True).returncode:
        pytest.skip("git and git-lfs are needed (scripts/install-deps.sh installs them)")
    home = tmp_path_factory.mktemp("githome")
    cfg = home / "gitconfig"
    cfg.write_text(
        "[user]\n\tname = E2E\n\temail = e2e@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n"
        '[filter "lfs"]\n\tclean = git-lfs clean -- %f\n\tsmudge = git-lfs smudge -- %f\n'
        "\tprocess = git-lfs filter-process\n\trequired = true\n"
        "[credential]\n\thelper =\n")
    env = dict(os.environ, GIT_CONFIG_GLOBAL=str(cfg), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0",
               HOME=str(home), GIT_ASKPASS="/bin/false", SSH_ASKPASS="/bin/false")
    probe = requests.get(f"{hub.endpoint}/alice/any-repo.git/info/refs?service=git-upload-pack", timeout=30)
    if probe.status_code == 501:
        pytest.skip(f"server answers 501 Not Implemented for git smart HTTP ({probe.headers.get('X-Error-Message')})")
    return env


@pytest.fixture(scope="module")
def git_repo(hub, api, git_env):
    from huggingface_hub import CommitOperationAdd

    rid = hub.repo_id("git")
    api.create_repo(rid)
    files = {"README.md": b"# git\n", "src/a.txt": b"a\n", "weights.bin": os.urandom(100_000)}
    c = api.create_commit(rid, [CommitOperationAdd(p, d) for p, d in files.items()], commit_message="for git")
    return rid, files, c.oid


def git(env, *args, cwd=None, check=True, timeout=300):
    cp = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
                        stdin=subprocess.DEVNULL)
    if check:
        assert cp.returncode == 0, f"git {' '.join(args)} -> {cp.returncode}\n{cp.stdout[-2000:]}\n{cp.stderr[-3000:]}"
    return cp


def authed(hub, user: str, rid: str) -> str:
    host = hub.endpoint.split("://", 1)[1]
    return f"http://{user}:{hub.token(user)}@{host}/{rid}"


def test_git_clone_with_lfs(hub, git_repo, git_env, tmp_path):
    rid, files, head = git_repo
    for url in (f"{hub.endpoint}/{rid}", f"{hub.endpoint}/{rid}.git"):
        dest = tmp_path / url.rsplit("/", 1)[1]
        git(git_env, "clone", url, str(dest))
        assert git(git_env, "rev-parse", "HEAD", cwd=dest).stdout.strip() == head
        for name, data in files.items():
            assert (dest / name).read_bytes() == data, f"{name} (LFS files must be smudged)"


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
    new_head = git(git_env, "rev-parse", "HEAD", cwd=dest).stdout.strip()

    info = api.model_info(rid, files_metadata=True)
    assert info.sha == new_head, "the HTTP API and git must be one source of truth"
    sib = {s.rfilename: s for s in info.siblings}
    assert sib["pushed.bin"].lfs is not None and sib["pushed.bin"].lfs.sha256 == sha256_bytes(big)
    r = requests.get(f"{hub.endpoint}/{rid}/resolve/main/pushed.bin", timeout=30)
    assert r.status_code == 200 and r.content == big and r.headers.get("X-Repo-Commit") == new_head, describe(r)


def test_git_private_repo_needs_credentials(hub, api, git_env, tmp_path):
    rid = hub.repo_id("git-private")
    api.create_repo(rid, private=True)
    assert git(git_env, "clone", f"{hub.endpoint}/{rid}", str(tmp_path / "anon"), check=False).returncode != 0
    assert git(git_env, "clone", authed(hub, "bob", rid), str(tmp_path / "bob"), check=False).returncode != 0
    git(git_env, "clone", authed(hub, "alice", rid), str(tmp_path / "alice"))
    assert (tmp_path / "alice" / ".gitattributes").exists()


def test_git_push_without_write_access(hub, api, git_repo, git_env, tmp_path):
    rid, _, _ = git_repo
    before = api.model_info(rid).sha
    dest = tmp_path / "bob"
    git(git_env, "clone", authed(hub, "bob", rid), str(dest))
    (dest / "bob.txt").write_text("bob was here\n")
    git(git_env, "add", "bob.txt", cwd=dest)
    git(git_env, "commit", "-m", "bob", cwd=dest)
    assert git(git_env, "push", "origin", "main", cwd=dest, check=False).returncode != 0
    assert api.model_info(rid).sha == before

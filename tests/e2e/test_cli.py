"""The `hf` command line (huggingface_hub 1.33) against the server, as subprocesses with HF_TOKEN."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from _util import sha256_file, write_random_file


def _hf_binary() -> str:
    beside = Path(sys.executable).parent / "hf"
    found = str(beside) if beside.exists() else shutil.which("hf")
    if not found:
        pytest.skip("the `hf` CLI is not installed in this Python environment")
    return found


def hf(hub, *args: str, token_user: str | None = "alice", timeout: int = 300, check: bool = True,
       cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("HF_TOKEN", None)
    if token_user:
        env["HF_TOKEN"] = hub.token(token_user)
    env["HF_ENDPOINT"] = hub.endpoint
    cp = subprocess.run([_hf_binary(), *args], capture_output=True, text=True, env=env, timeout=timeout,
                        cwd=cwd, stdin=subprocess.DEVNULL)
    if check:
        assert cp.returncode == 0, (f"hf {' '.join(args)} exited {cp.returncode}\n"
                                    f"stdout: {cp.stdout[-3000:]}\nstderr: {cp.stderr[-3000:]}")
    return cp


def test_cli_whoami(hub):
    cp = hf(hub, "auth", "whoami", "--json")
    data = json.loads(cp.stdout)
    assert data.get("name") == "alice" or data.get("user") == "alice", cp.stdout
    cp = hf(hub, "auth", "whoami", token_user="bob")
    assert "bob" in cp.stdout


def test_cli_whoami_bad_token(hub):
    env_token = "hf_this_token_does_not_exist_0000000000"
    env = dict(os.environ, HF_TOKEN=env_token, HF_ENDPOINT=hub.endpoint)
    cp = subprocess.run([_hf_binary(), "auth", "whoami"], capture_output=True, text=True, env=env, timeout=120,
                        stdin=subprocess.DEVNULL)
    assert cp.returncode != 0, cp.stdout


def test_cli_repo_create(hub, api):
    rid = hub.repo_id("cli-create")
    hf(hub, "repos", "create", rid)
    assert api.repo_exists(rid)
    # again: fails without --exist-ok, succeeds with it
    assert hf(hub, "repos", "create", rid, check=False).returncode != 0
    hf(hub, "repos", "create", rid, "--exist-ok")

    ds = hub.repo_id("cli-ds")
    hf(hub, "repos", "create", ds, "--repo-type", "dataset", "--private")
    info = api.dataset_info(ds)
    assert info.private is True


def test_cli_upload_and_download(hub, api, tmp_path):
    rid = hub.repo_id("cli-up")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "README.md").write_text("# uploaded with hf upload\n")
    (src / "sub" / "notes.txt").write_text("notes\n" * 50)
    big_sha = write_random_file(src / "weights.bin", 3 << 20)

    # `hf upload` creates the repo when needed
    hf(hub, "upload", rid, str(src), ".", "--commit-message", "cli upload")
    files = set(api.list_repo_files(rid))
    assert {"README.md", "sub/notes.txt", "weights.bin"} <= files
    assert api.list_repo_commits(rid)[0].title == "cli upload"

    # single file to a path in the repo
    single = tmp_path / "one.txt"
    single.write_text("one file\n")
    hf(hub, "upload", rid, str(single), "extra/one.txt")
    assert api.file_exists(rid, "extra/one.txt")

    # download: whole repo into a local dir
    out = tmp_path / "out"
    hf(hub, "download", rid, "--local-dir", str(out))
    assert sha256_file(out / "weights.bin") == big_sha
    assert (out / "sub" / "notes.txt").read_text() == "notes\n" * 50
    assert (out / "extra" / "one.txt").read_text() == "one file\n"

    # download: one file into the cache; stdout is its path
    cp = hf(hub, "download", rid, "README.md", "--cache-dir", str(tmp_path / "cache"), "--quiet")
    path = Path(cp.stdout.strip().splitlines()[-1])
    assert path.read_text() == "# uploaded with hf upload\n"

    # private repo: bob's token cannot download it
    priv = hub.repo_id("cli-priv")
    hf(hub, "upload", priv, str(single), "one.txt", "--private")
    cp = hf(hub, "download", priv, "one.txt", "--cache-dir", str(tmp_path / "bobcache"), token_user="bob",
            check=False)
    assert cp.returncode != 0

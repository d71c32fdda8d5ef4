"""Security finding 13 of the hardening issue: look-alike names.

- `Bob` could be created beside `bob`, `bob/Secret` beside `bob/secret`. As on the Hub, user, org and repo names
  are now unique case-insensitively, and every lookup (HTTP API, resolve, LFS, Xet, git) accepts any casing and
  answers with the stored spelling (storage/meta/meta_rules.h FoldName; schema version 5).
- Two spellings of one file name (NFC "café" and NFD "cafe"+U+0301) in one folder, and a .gitmodules whose url or
  path would be read as an option (`--upload-pack=...`), are refused through the API as through git push
  (repo/path_rules.h CheckNfcTwins, repo/gitmodules.h CheckGitmodules: one check for both paths).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
import requests

from _util import assert_hf_error, b64, bearer, commit_raw, describe, head_sha, ndjson, sha256_bytes

NFC = unicodedata.normalize("NFC", "café.txt")
NFD = unicodedata.normalize("NFD", "café.txt")
assert NFC != NFD and NFC.encode() != NFD.encode()

INJECTION = b'[submodule "x"]\n\tpath = x\n\turl = --upload-pack=touch /tmp/modelhub-pwned\n'


def header(summary: str = "test") -> dict:
    return {"key": "header", "value": {"summary": summary, "description": ""}}


def file_op(path: str, data: bytes) -> dict:
    return {"key": "file", "value": {"path": path, "content": b64(data), "encoding": "base64"}}


def swapcase_id(rid: str) -> str:
    """alice/abc-123 -> ALICE/ABC-123 (another casing of the same id)."""
    return rid.swapcase()


# ---- accounts: unique case-insensitively (admin CLI) -------------------------------------------------------


def test_user_and_org_case_twins_refused_by_admin_cli(hub):
    name = hub.unique("carol")
    hub.create_user(name)
    for twin in (name.capitalize(), name.upper()):
        cp = hub.admin_run("user", "create", twin)
        assert cp.returncode != 0, f"user {twin} created beside {name}: {cp.stdout} {cp.stderr}"
        assert "already taken" in cp.stderr, cp.stderr
        cp = hub.admin_run("org", "create", twin, "--owner", name)
        assert cp.returncode != 0, f"org {twin} created beside user {name}: {cp.stdout} {cp.stderr}"
    # The existing org "acme" (conftest) in other casings, as a user and as an org.
    for twin in (hub.org.upper(), hub.org.capitalize()):
        assert hub.admin_run("user", "create", twin).returncode != 0
        assert hub.admin_run("org", "create", twin, "--owner", "alice").returncode != 0
    # The owner and the token's user are found in any casing; the token works for the stored account.
    org = hub.unique("org")
    hub.admin("org", "create", org, "--owner", name.upper())
    token = hub.create_token(name.upper(), "write")
    r = requests.get(f"{hub.endpoint}/api/whoami-v2", headers=bearer(token), timeout=30)
    assert r.status_code == 200, describe(r)
    assert r.json()["name"] == name
    assert org in [o["name"] for o in r.json().get("orgs", [])], r.json()


# ---- repositories: unique case-insensitively, found by any casing ------------------------------------------


def test_repo_case_twin_refused_with_the_hubs_409(hub, api):
    from huggingface_hub.errors import HfHubHTTPError

    rid = hub.repo_id("Secret")
    api.create_repo(rid, private=True)
    for twin in (rid.lower(), rid.upper(), swapcase_id(rid)):
        with pytest.raises(HfHubHTTPError) as e:
            api.create_repo(twin)
        assert e.value.response.status_code == 409, describe(e.value.response)
        # exist_ok reads the url of the 409: it names the repository as it was created.
        url = api.create_repo(twin, exist_ok=True)
        assert url.repo_id == rid, url
    r = requests.post(f"{hub.endpoint}/api/repos/create", headers=bearer(hub.token("alice")),
                      json={"name": rid.split("/")[1].upper(), "organization": "ALICE", "type": "model"}, timeout=30)
    assert r.status_code == 409, describe(r)
    assert r.json()["error"] == "You already created this model repo", describe(r)
    assert r.json()["url"] == f"{hub.endpoint}/{rid}", describe(r)
    assert r.headers.get("X-Error-Code") == "RepoExists", describe(r)
    # Still one repository, private, under the original spelling.
    listed = [m.id for m in api.list_models(author="alice", search=rid.split("/")[1].lower())]
    assert listed == [rid], listed
    # Another user cannot take it in another casing either (and learns nothing about the private repo).
    bob = {"authorization": f"Bearer {hub.token('bob')}"}
    r = requests.post(f"{hub.endpoint}/api/repos/create", headers=bob,
                      json={"name": rid.split("/")[1].upper(), "organization": "Alice", "type": "model"}, timeout=30)
    assert r.status_code == 403, describe(r)
    # A dataset may share the name: another namespace of repositories.
    api.create_repo(rid.upper(), repo_type="dataset")


def test_repo_in_an_org_and_own_namespace_in_other_casing(hub, api, bob_api):
    # alice may create in "ACME" (the org acme) and in "Alice" (her own namespace): stored canonically.
    name = hub.unique("org-repo")
    url = api.create_repo(f"{hub.org.upper()}/{name}")
    assert url.repo_id == f"{hub.org}/{name}", url
    url = api.create_repo(f"Alice/{name}")
    assert url.repo_id == f"alice/{name}", url
    assert api.model_info(f"ALICE/{name}").id == f"alice/{name}"
    # bob is not alice in any casing.
    from huggingface_hub.errors import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as e:
        bob_api.create_repo(f"ALICE/{hub.unique('x')}")
    assert e.value.response.status_code == 403, describe(e.value.response)
    with pytest.raises(HfHubHTTPError) as e:
        bob_api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=f"Alice/{name}")
    assert e.value.response.status_code == 403, describe(e.value.response)


def test_differently_cased_id_reads_commits_and_resolves(hub, api, transfer, fresh_cache):
    """The client's own tests expect create_commit on a differently-cased repo id to work."""
    from huggingface_hub import CommitOperationAdd, hf_hub_download

    rid = hub.repo_id("repo-name")
    api.create_repo(rid, private=True)
    other = swapcase_id(rid)
    big = os.urandom(300_000)  # an LFS/Xet file (*.bin is tracked by the default .gitattributes)
    c = api.create_commit(other, [CommitOperationAdd("small.txt", b"hello\n"), CommitOperationAdd("w.bin", big)],
                          commit_message="through another casing")
    assert c.repo_url.repo_id == rid, c.repo_url
    api.upload_file(path_or_fileobj=b"second\n", path_in_repo="second.txt", repo_id=rid.title())
    info = api.model_info(other, files_metadata=True)
    assert info.id == rid  # the canonical id, as the Hub answers
    assert info.sha == head_sha(hub.endpoint, rid, hub.token("alice"))
    assert {s.rfilename for s in info.siblings} >= {"small.txt", "w.bin", "second.txt"}
    assert sorted(api.list_repo_files(rid.upper())) == sorted(api.list_repo_files(rid))
    p = hf_hub_download(other, "w.bin", cache_dir=fresh_cache, token=hub.token("alice"))
    assert Path(p).read_bytes() == big
    r = requests.get(f"{hub.endpoint}/{rid.upper()}/resolve/main/small.txt", headers=bearer(hub.token("alice")),
                     timeout=30)
    assert r.status_code == 200 and r.content == b"hello\n", describe(r)
    # Private stays private in every casing.
    r = requests.get(f"{hub.endpoint}/{other}/resolve/main/small.txt", timeout=30)
    assert r.status_code in (401, 404), describe(r)
    r = requests.get(f"{hub.endpoint}/api/models/{other}", headers=bearer(hub.token("bob")), timeout=30)
    assert r.status_code == 404, describe(r)


# ---- git: clone and push through another casing -------------------------------------------------------------


@pytest.fixture(scope="module")
def git_ok(hub):
    if not shutil.which("git") or subprocess.run(["git", "lfs", "version"], capture_output=True).returncode != 0:
        pytest.skip("git and git-lfs are needed (scripts/install-deps.sh installs them)")
    return True


@pytest.fixture
def git_env(git_ok, tmp_path):
    from test_git import make_git_env

    return make_git_env(tmp_path / "githome")


def git(env, *args, cwd=None, check=True):
    from test_git import git as run_git

    return run_git(env, *args, cwd=cwd, check=check)


def authed(hub, user: str, rid: str) -> str:
    from test_git import authed as url

    return url(hub, user, rid)


def test_git_clone_and_push_through_another_casing(hub, api, git_env, tmp_path):
    rid = hub.repo_id("git-case")
    api.create_repo(rid, private=True)
    api.upload_file(path_or_fileobj=os.urandom(200_000), path_in_repo="w.bin", repo_id=rid)
    work = tmp_path / "work"
    git(git_env, "clone", authed(hub, "alice", swapcase_id(rid)), str(work))
    assert (work / "w.bin").stat().st_size == 200_000  # LFS content through the other casing too
    (work / "pushed.txt").write_text("via git\n")
    git(git_env, "add", "pushed.txt", cwd=work)
    git(git_env, "commit", "-q", "-m", "push through another casing", cwd=work)
    git(git_env, "push", "origin", "main", cwd=work)
    head = git(git_env, "rev-parse", "HEAD", cwd=work).stdout.strip()
    assert api.model_info(rid).sha == head


# ---- NFC/NFD twins ----------------------------------------------------------------------------------------


def test_nfc_nfd_twins_refused_via_api(hub, api):
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    rid = hub.repo_id("nfc")
    api.create_repo(rid)
    api.create_commit(rid, [CommitOperationAdd(f"docs/{NFC}", b"composed\n")], commit_message="nfc")
    before = head_sha(hub.endpoint, rid, hub.token("alice"))
    # Beside an existing file, raw: an HF-style 400 naming both spellings.
    r = commit_raw(hub.endpoint, rid, hub.token("alice"), ndjson(header(), file_op(f"docs/{NFD}", b"decomposed\n")))
    body = assert_hf_error(r, 400, "BadRequest")
    assert "NFC" in body["error"] and "\\u0301" in body["error"] and "\\u00e9" in body["error"], body
    # Both in one commit, through the client.
    with pytest.raises(HfHubHTTPError) as e:
        api.create_commit(rid, [CommitOperationAdd(NFC, b"1"), CommitOperationAdd(NFD, b"2")], commit_message="both")
    assert e.value.response.status_code == 400, describe(e.value.response)
    assert head_sha(hub.endpoint, rid, hub.token("alice")) == before
    # A folder and a file that are twins.
    r = commit_raw(hub.endpoint, rid, hub.token("alice"), ndjson(header(), file_op(f"{NFD}/inner.txt", b"x")))
    assert r.status_code == 200, describe(r)  # a folder named like the file of docs/: another folder, fine
    r = commit_raw(hub.endpoint, rid, hub.token("alice"), ndjson(header(), file_op(NFC, b"x")))
    assert_hf_error(r, 400, "BadRequest")
    # Replacing the file under its own spelling is fine.
    api.create_commit(rid, [CommitOperationAdd(f"docs/{NFC}", b"edited\n")], commit_message="edit")
    assert sorted(api.list_repo_files(rid)) == sorted([".gitattributes", f"docs/{NFC}", f"{NFD}/inner.txt"])


def test_nfc_nfd_twins_refused_via_git_push(hub, api, git_env, tmp_path):
    from huggingface_hub import CommitOperationAdd

    rid = hub.repo_id("nfc-git")
    api.create_repo(rid)
    api.create_commit(rid, [CommitOperationAdd(NFC, b"composed\n")], commit_message="nfc")
    before = api.model_info(rid).sha
    work = tmp_path / "work"
    git(git_env, "clone", authed(hub, "alice", rid), str(work))
    git(git_env, "config", "core.precomposeUnicode", "false", cwd=work)
    (work / NFD).write_bytes(b"decomposed\n")
    git(git_env, "add", "--", NFD, cwd=work)
    git(git_env, "commit", "-q", "-m", "twin", cwd=work)
    listed = git(git_env, "ls-tree", "--name-only", "-z", "HEAD", cwd=work).stdout.split("\0")
    assert NFC in listed and NFD in listed, listed  # git itself keeps both
    cp = git(git_env, "push", "origin", "main", cwd=work, check=False)
    assert cp.returncode != 0, cp.stderr
    assert "NFC" in cp.stderr and "pre-receive hook declined" in cp.stderr, cp.stderr
    assert api.model_info(rid).sha == before


# ---- .gitmodules option injection -------------------------------------------------------------------------


def test_gitmodules_injection_refused_via_api(hub, api):
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.errors import HfHubHTTPError

    rid = hub.repo_id("gitmodules")
    api.create_repo(rid)
    before = head_sha(hub.endpoint, rid, hub.token("alice"))
    r = commit_raw(hub.endpoint, rid, hub.token("alice"), ndjson(header(), file_op(".gitmodules", INJECTION)))
    body = assert_hf_error(r, 400, "BadRequest")
    assert "url" in body["error"] and "--upload-pack" in body["error"], body
    for path, data in ((".gitmodules", b'[submodule "y"]\n\tpath = --output=/tmp/x\n\turl = ../y.git\n'),
                       ("nested/.gitmodules", INJECTION),
                       (".GITMODULES", INJECTION),
                       (".gitmodules", b'[submodule "../../.git/hooks"]\n\tpath = h\n\turl = ../h.git\n'),
                       (".gitmodules", b'[submodule "z"]\n\tupdate = !touch /tmp/modelhub-pwned\n')):
        with pytest.raises(HfHubHTTPError) as e:
            api.create_commit(rid, [CommitOperationAdd(path, data)], commit_message="inject")
        assert e.value.response.status_code == 400, describe(e.value.response)
    assert head_sha(hub.endpoint, rid, hub.token("alice")) == before
    # A sane .gitmodules is fine.
    api.create_commit(rid, [CommitOperationAdd(".gitmodules", b'[submodule "lib"]\n\tpath = lib\n\turl = ../lib.git\n')],
                      commit_message="ok")


def test_gitmodules_injection_refused_via_git_push(hub, api, git_env, tmp_path):
    rid = hub.repo_id("gitmodules-git")
    api.create_repo(rid)
    before = api.model_info(rid).sha
    work = tmp_path / "work"
    git(git_env, "clone", authed(hub, "alice", rid), str(work))
    (work / ".gitmodules").write_bytes(INJECTION)
    git(git_env, "add", ".gitmodules", cwd=work)
    git(git_env, "commit", "-q", "-m", "inject", cwd=work)
    cp = git(git_env, "push", "origin", "main", cwd=work, check=False)
    assert cp.returncode != 0, cp.stderr
    assert "gitmodules" in cp.stderr.lower(), cp.stderr
    assert api.model_info(rid).sha == before

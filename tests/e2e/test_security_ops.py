"""Security issue #11, operational findings: a full disk (11), stale git lock files (12), paging cursors that
overflow and an anonymous /metrics (14).

Each test fails on the commit before the fix (MODELHUB_BIN=/work/wt/base/build/bin/modelhub) and passes after.
The disk-full test mounts a small tmpfs as the data folder: it needs root (mount) and is skipped, saying so,
where that is impossible.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from _hub import User, start_hub
from _util import bearer, describe, server_repo_dir

DAY = 24 * 3600


# ---- helpers -----------------------------------------------------------------------------------------------

def _commit(endpoint: str, token: str | None, repo_id: str, files: dict[str, bytes],
            message: str = "ops test") -> requests.Response:
    """One NDJSON commit of small inline files (the HF commit endpoint, as huggingface_hub sends it)."""
    lines = [json.dumps({"key": "header", "value": {"summary": message}})]
    for path, data in files.items():
        lines.append(json.dumps({"key": "file", "value": {"path": path, "encoding": "base64",
                                                          "content": base64.b64encode(data).decode()}}))
    return requests.post(f"{endpoint}/api/models/{repo_id}/commit/main", data="\n".join(lines) + "\n",
                         headers={**bearer(token), "content-type": "application/x-ndjson"}, timeout=60)


def _head(endpoint: str, token: str | None, repo_id: str) -> str:
    r = requests.get(f"{endpoint}/api/models/{repo_id}/revision/main", headers=bearer(token), timeout=30)
    assert r.status_code == 200, describe(r)
    return r.json()["sha"]




def _new_repo(hub, prefix: str) -> tuple[str, Path]:
    """A repo of alice's with one unique commit; returns (repo id, its bare repository on the server)."""
    rid = hub.repo_id(prefix)
    r = requests.post(f"{hub.endpoint}/api/repos/create", json={"name": rid.split("/")[1], "type": "model"},
                      headers=hub.auth("alice"), timeout=30)
    assert r.status_code == 200, describe(r)
    r = _commit(hub.endpoint, hub.token("alice"), rid, {"unique.txt": rid.encode()})
    assert r.status_code == 200, describe(r)
    return rid, server_repo_dir(hub, r.json()["commitOid"])


def _plant_lock(repo_dir: Path, name: str = "refs/heads/main.lock", age_s: float = 0) -> Path:
    """A lock file as a killed git process leaves it (git writes the new ref value into it)."""
    lock = repo_dir / name
    lock.write_text("0" * 40 + "\n")
    if age_s:
        t = time.time() - age_s
        os.utime(lock, (t, t))
    return lock


def _no_server_path(hub, text: str, what: str) -> None:
    for needle in (str(hub.data_dir), str(hub.data_dir.resolve()), "/repos/", ".git/"):
        assert needle not in text, f"{what} shows a server path ({needle!r}): {text!r}"


# ---- 12. stale lock files ---------------------------------------------------------------------------------

def test_stale_ref_lock_is_recovered_for_api_commits(hub):
    rid, repo_dir = _new_repo(hub, "stale-lock")
    before = _head(hub.endpoint, hub.token("alice"), rid)
    lock = _plant_lock(repo_dir, age_s=DAY)
    r = _commit(hub.endpoint, hub.token("alice"), rid, {"after-crash.txt": b"written after a crash\n"})
    assert r.status_code == 200, f"a day-old lock of a dead writer still blocks the branch: {describe(r)}"
    assert not lock.exists(), "the stale lock file was not removed"
    after = _head(hub.endpoint, hub.token("alice"), rid)
    assert after != before and after == r.json()["commitOid"]
    assert "stale lock" in hub.log_text(), "the recovery of a stale lock is not logged"


def test_stale_ref_lock_is_recovered_for_git_push(hub, tmp_path):
    rid, repo_dir = _new_repo(hub, "stale-lock-push")
    work = tmp_path / "clone"
    url = f"http://alice:{hub.token('alice')}@127.0.0.1:{hub.port}/{rid}"
    subprocess.run(["git", "clone", "-q", url, str(work)], check=True, capture_output=True, timeout=120)
    (work / "pushed.txt").write_text("pushed after a crash\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@a", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@a", "GIT_TERMINAL_PROMPT": "0"}
    subprocess.run(["git", "-C", str(work), "add", "pushed.txt"], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "commit", "-qm", "push"], check=True, env=env)
    lock = _plant_lock(repo_dir, age_s=DAY)
    cp = subprocess.run(["git", "-C", str(work), "push", "origin", "main"], capture_output=True, text=True,
                        env=env, timeout=120)
    assert cp.returncode == 0, f"git push still blocked by a day-old lock:\n{cp.stderr}"
    assert not lock.exists()
    local = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert _head(hub.endpoint, hub.token("alice"), rid) == local.strip()


def test_live_ref_lock_gives_clean_retryable_error_without_paths(hub):
    rid, repo_dir = _new_repo(hub, "live-lock")
    before = _head(hub.endpoint, hub.token("alice"), rid)
    lock = _plant_lock(repo_dir)  # just taken: a live writer
    try:
        r = _commit(hub.endpoint, hub.token("alice"), rid, {"blocked.txt": b"x"})
        assert r.status_code in (409, 503), describe(r)
        assert r.headers.get("X-Error-Code"), describe(r)
        msg = r.headers.get("X-Error-Message", "")
        assert "locked" in msg, describe(r)
        _no_server_path(hub, msg, "X-Error-Message")
        _no_server_path(hub, r.text, "the error body")
        assert lock.exists(), "a live writer's lock was taken away"
        assert _head(hub.endpoint, hub.token("alice"), rid) == before
    finally:
        lock.unlink(missing_ok=True)
    r = _commit(hub.endpoint, hub.token("alice"), rid, {"unblocked.txt": b"x"})
    assert r.status_code == 200, describe(r)


def test_git_push_meeting_a_live_lock_shows_no_server_path(hub, tmp_path):
    """git receive-pack itself prints the lock's absolute path when a live writer holds a ref longer than its
    wait; the push result's messages are rewritten before they leave (api/git_pkt.h)."""
    rid, repo_dir = _new_repo(hub, "live-lock-push")
    work = tmp_path / "clone"
    url = f"http://alice:{hub.token('alice')}@127.0.0.1:{hub.port}/{rid}"
    subprocess.run(["git", "clone", "-q", url, str(work)], check=True, capture_output=True, timeout=120)
    (work / "pushed.txt").write_text("blocked\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@a", "GIT_COMMITTER_NAME": "a",
           "GIT_COMMITTER_EMAIL": "a@a", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    subprocess.run(["git", "-C", str(work), "add", "pushed.txt"], check=True, env=env)
    subprocess.run(["git", "-C", str(work), "commit", "-qm", "push"], check=True, env=env)
    before = _head(hub.endpoint, hub.token("alice"), rid)
    lock = _plant_lock(repo_dir)  # just taken: a live writer
    try:
        cp = subprocess.run(["git", "-C", str(work), "push", "origin", "main"], capture_output=True, text=True,
                            env=env, timeout=120)
    finally:
        lock.unlink(missing_ok=True)
    assert cp.returncode != 0, f"the push moved a ref whose lock a live writer holds:\n{cp.stderr}"
    assert "main.lock" in cp.stderr, f"the push does not say why it failed:\n{cp.stderr}"
    _no_server_path(hub, cp.stderr, "git push's messages")
    assert _head(hub.endpoint, hub.token("alice"), rid) == before


def test_fsck_reports_stale_lock_files(hub):
    rid, repo_dir = _new_repo(hub, "fsck-lock")
    lock = _plant_lock(repo_dir, age_s=DAY)
    young = _plant_lock(repo_dir, "packed-refs.lock")
    try:
        cp = hub.admin_run("fsck")
        out = cp.stdout + cp.stderr
        assert f"STALE lock {rid}:refs/heads/main.lock" in out, out[-3000:]
        assert f"{rid}:packed-refs.lock" not in out, "a young (live) lock is reported as stale"
    finally:
        lock.unlink(missing_ok=True)
        young.unlink(missing_ok=True)


# ---- 14. paging cursors and /metrics --------------------------------------------------------------------

@pytest.mark.parametrize("cursor", ["9223372036854775807", "9223372036854775000", "1000000"])
def test_tree_cursor_beyond_listing_gives_empty_page_without_link(hub, cursor):
    rid, _ = _new_repo(hub, "cursor")
    for limit in ("", "&limit=1", "&limit=10000"):
        r = requests.get(f"{hub.endpoint}/api/models/{rid}/tree/main?cursor={cursor}{limit}",
                         headers=hub.auth("alice"), timeout=30)
        assert r.status_code == 200, describe(r)
        assert r.json() == [], describe(r)
        assert "Link" not in r.headers, f"a page past the end links to another: {r.headers.get('Link')}"
    # Paging itself still works, and the next cursor is the end of this page.
    r = requests.get(f"{hub.endpoint}/api/models/{rid}/tree/main?limit=1", headers=hub.auth("alice"), timeout=30)
    assert r.status_code == 200 and len(r.json()) == 1, describe(r)
    assert "cursor=1>" in r.headers.get("Link", ""), describe(r)
    r = requests.get(f"{hub.endpoint}/api/models/{rid}/tree/main?limit=1&cursor=1", headers=hub.auth("alice"),
                     timeout=30)
    assert r.status_code == 200 and len(r.json()) == 1 and "Link" not in r.headers, describe(r)
    for bad in ("-1", "abc", "99999999999999999999"):
        r = requests.get(f"{hub.endpoint}/api/models/{rid}/tree/main?cursor={bad}", headers=hub.auth("alice"),
                         timeout=30)
        assert r.status_code == 400, describe(r)


def test_repo_listing_cursor_beyond_end(hub):
    r = requests.get(f"{hub.endpoint}/api/models?cursor=9223372036854775807&limit=1000", timeout=30)
    assert r.status_code == 200, describe(r)
    assert r.json() == [] and "Link" not in r.headers, describe(r)


def test_metrics_needs_an_admin_token(hub):
    r = requests.get(f"{hub.endpoint}/metrics", timeout=30)
    assert r.status_code == 401, f"/metrics is readable anonymously: {describe(r)}"
    assert r.headers.get("X-Error-Code"), describe(r)
    r = requests.get(f"{hub.endpoint}/metrics", headers=hub.auth("bob"), timeout=30)
    assert r.status_code == 403, f"/metrics is readable by a non-admin: {describe(r)}"
    r = requests.get(f"{hub.endpoint}/metrics", headers=hub.auth("alice"), timeout=30)
    assert r.status_code == 200 and "# TYPE" in r.text, describe(r)


def test_metrics_public_flag_opens_metrics(tmp_path):
    h = start_hub(tmp_path / "hub", extra_args=("--metrics-public",))
    try:
        r = requests.get(f"{h.endpoint}/metrics", timeout=30)
        assert r.status_code == 200 and "# TYPE" in r.text, describe(r)
    finally:
        h.stop()


# ---- 11. a full disk ----------------------------------------------------------------------------------------

def _fill(path: Path) -> None:
    """Writes zeros into path until the filesystem has no byte left."""
    block = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                f.write(block)
            except OSError as e:
                if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                break
        for n in (65536, 4096, 512, 1):  # the last partial blocks
            while True:
                try:
                    f.write(b"\0" * n)
                except OSError:
                    break


def _assert_507(hub, r: requests.Response) -> None:
    assert r.status_code == 507, f"a write on a full disk: {describe(r)}"
    assert r.headers.get("X-Error-Code") == "InsufficientStorage", describe(r)
    msg = r.headers.get("X-Error-Message", "")
    assert "the server's disk is full" in msg, describe(r)
    body = r.json()
    assert "the server's disk is full" in body.get("error", ""), describe(r)
    _no_server_path(hub, msg + r.text, "the 507 answer")


@pytest.fixture
def small_disk(tmp_path):
    """A 64 MiB tmpfs, unmounted at the end."""
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    cp = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if cp.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {cp.stderr.strip()}")
    try:
        yield mnt
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(mnt)], capture_output=True).returncode == 0:
                break
            time.sleep(0.5)


def test_full_disk_answers_507_changes_nothing_and_still_serves_git(small_disk, tmp_path, monkeypatch):
    h = start_hub(small_disk / "hub")
    try:
        h.create_user("alice", admin=True)
        h.users["alice"] = User("alice", h.create_token("alice", "write", "alice-write"))
        token = h.token("alice")
        rid = h.repo_id("full-disk")
        r = requests.post(f"{h.endpoint}/api/repos/create", json={"name": rid.split("/")[1], "type": "model"},
                          headers=h.auth("alice"), timeout=30)
        assert r.status_code == 200, describe(r)
        r = _commit(h.endpoint, token, rid, {"README.md": b"# before the disk filled\n"})
        assert r.status_code == 200, describe(r)
        head = r.json()["commitOid"]

        _fill(small_disk / "filler")

        # A regular commit.
        r = _commit(h.endpoint, token, rid, {"new.txt": os.urandom(64 * 1024)})
        _assert_507(h, r)
        # An LFS upload through huggingface_hub (preupload, LFS batch, PUT of the content, commit).
        from huggingface_hub import HfApi, constants

        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        api = HfApi(endpoint=h.endpoint, token=token)
        with pytest.raises(Exception) as exc:
            api.upload_file(path_or_fileobj=os.urandom(2 << 20), path_in_repo="weights.bin", repo_id=rid)
        e: BaseException | None = exc.value  # huggingface_hub wraps the HTTP error of the PUT
        while e is not None and getattr(e, "response", None) is None:
            e = e.__cause__
        assert e is not None, f"the upload failed without an HTTP answer: {exc.value!r}"
        _assert_507(h, e.response)
        # Nothing changed.
        assert _head(h.endpoint, token, rid) == head
        files = [e["path"] for e in requests.get(f"{h.endpoint}/api/models/{rid}/tree/main", headers=bearer(token),
                                                 timeout=30).json()]
        assert sorted(files) == [".gitattributes", "README.md"], files

        # Reading still works, git clone included: serving must not need space on the data disk.
        for user, auth in (("anonymous", ""), ("alice", f"alice:{token}@")):
            dest = tmp_path / f"clone-{user}"
            cp = subprocess.run(["git", "clone", "-q", f"http://{auth}127.0.0.1:{h.port}/{rid}", str(dest)],
                                capture_output=True, text=True, timeout=120,
                                env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
            assert cp.returncode == 0, f"git clone ({user}) fails on a full data disk:\n{cp.stderr}"
            assert (dest / "README.md").read_text() == "# before the disk filled\n"
        r = requests.get(f"{h.endpoint}/{rid}/resolve/main/README.md", timeout=30)
        assert r.status_code == 200 and r.content == b"# before the disk filled\n", describe(r)

        # Space freed: writes work again (the refused ones left nothing in the way).
        (small_disk / "filler").unlink()
        r = _commit(h.endpoint, token, rid, {"new.txt": b"after\n"})
        assert r.status_code == 200, describe(r)
        api.upload_file(path_or_fileobj=os.urandom(2 << 20), path_in_repo="weights.bin", repo_id=rid)
        assert h.admin_run("fsck").returncode == 0
    finally:
        h.stop()

"""`modelhub admin gc | fsck | stats` against a running server, and the "storage" field of repo info.

Runs its own server (own data folder): a GC with no grace period would otherwise remove what
other tests uploaded and have not committed yet. See docs/gc-fsck.md.
"""

from __future__ import annotations

import json
import os

import pytest
import requests
from huggingface_hub import HfApi

from _hub import start_hub


@pytest.fixture(scope="module")
def gc_hub(tmp_path_factory):
    h = start_hub(tmp_path_factory.mktemp("gc-hub"))
    try:
        h.create_user("gina", admin=True)
        token = h.create_token("gina", "write", "gina")
        yield h, HfApi(endpoint=h.endpoint, token=token), token
    finally:
        h.stop()


def _xorb_keys(h) -> list:
    return sorted(h.blobs.objects("xorbs/"))


def test_gc_fsck_stats_while_the_server_runs(gc_hub, tmp_path):
    h, api, token = gc_hub
    shared = os.urandom(3 << 20)
    only = os.urandom(1 << 20)
    (tmp_path / "shared.bin").write_bytes(shared)
    (tmp_path / "only.bin").write_bytes(only)
    api.create_repo("gina/keep")
    api.create_repo("gina/gone")
    api.upload_file(path_or_fileobj=str(tmp_path / "shared.bin"), path_in_repo="w/shared.bin", repo_id="gina/keep")
    api.upload_file(path_or_fileobj=str(tmp_path / "shared.bin"), path_in_repo="shared.bin", repo_id="gina/gone")
    api.upload_file(path_or_fileobj=str(tmp_path / "only.bin"), path_in_repo="only.bin", repo_id="gina/gone")

    # Repo info: this revision's LFS files, logical and stored.
    info = requests.get(f"{h.endpoint}/api/models/gina/gone", headers={"Authorization": f"Bearer {token}"}).json()
    assert info["storage"]["logicalBytes"] == len(shared) + len(only)
    assert info["storage"]["storedBytes"] >= len(shared) + len(only)  # random data: no compression

    stats = json.loads(h.admin("stats", "--json"))
    assert stats["logicalBytes"] == len(shared) + len(only)
    assert stats["logicalBytesPerRepo"] == 2 * len(shared) + len(only)
    assert {r["id"]: r["logicalBytes"] for r in stats["perRepo"]} == {
        "gina/keep": len(shared), "gina/gone": len(shared) + len(only)}

    api.delete_repo("gina/gone")
    # Within the default grace period nothing goes.
    out = h.admin("gc")
    assert "removed 0" in out, out
    dry = h.admin("gc", "--grace-seconds", "0", "--dry-run")
    assert "would remove 1" in dry, dry
    out = h.admin("gc", "--grace-seconds", "0")
    assert "files: 2 recorded, 1 live; removed 1" in out, out

    fsck = h.admin_run("fsck")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert "no errors" in fsck.stdout
    # The shared file still downloads; the removed one must be uploaded again (the batch API
    # no longer says "already here").
    got = api.hf_hub_download("gina/keep", "w/shared.bin", cache_dir=str(tmp_path / "cache"))
    assert open(got, "rb").read() == shared
    api.create_repo("gina/again")
    api.upload_file(path_or_fileobj=str(tmp_path / "only.bin"), path_in_repo="only.bin", repo_id="gina/again")
    got = api.hf_hub_download("gina/again", "only.bin", cache_dir=str(tmp_path / "cache2"))
    assert open(got, "rb").read() == only

    # A flipped byte in a stored xorb: fsck names the repo and path, exits 1.
    victim = _xorb_keys(h)[0]
    h.blobs.flip_byte(victim, 100, 0x01)
    fsck = h.admin_run("fsck")
    assert fsck.returncode == 1, fsck.stdout + fsck.stderr
    assert "DAMAGED xorb" in fsck.stdout
    assert "content does not match its hash" in fsck.stdout
    assert ("gina/keep@main:w/shared.bin" in fsck.stdout) or ("gina/again@main:only.bin" in fsck.stdout), fsck.stdout

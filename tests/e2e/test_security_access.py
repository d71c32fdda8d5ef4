"""Security findings 7 and 8 of the hardening issue: access must end when it is revoked.

Finding 7: Xet access tokens and signed URLs (LFS download, upload, multipart part and completion, Xet xorb
ranges) outlived what they were issued for: after `token revoke` they kept working for their whole lifetime
(1 h / 24 h), an anonymously obtained one kept downloading after its repository was made private, and a signed
download kept serving after the repository was deleted. Each now carries its grant (repository, user, token)
under the HMAC and the server re-checks it at every use (auth/access_grant.h, Authenticator::CheckGrant).

Finding 8: two `serve` processes on one embedded data folder both started, each with its own caches, so one
kept serving anonymously a repository the other had made private. The embedded mode now takes an exclusive
lock on the folder (DIR/serve.lock); the admin CLI keeps running beside the server, and the scale-out mode
(PostgreSQL metadata) still runs several servers on one folder.

Raw HTTP throughout: the credentials under test are the ones the official clients are handed.
"""

from __future__ import annotations

import hashlib
import os

import pytest
import requests

import _hub
from _hub import Hub, free_port, start_hub
from _util import assert_hf_error, bearer, describe, sha256_bytes

LFS_JSON = "application/vnd.git-lfs+json"


# ---- helpers -------------------------------------------------------------------------------------


def xet_token(hub, rid: str, token: str | None, write: bool = False) -> dict:
    kind = "write" if write else "read"
    r = requests.get(f"{hub.endpoint}/api/models/{rid}/xet-{kind}-token/main", headers=bearer(token), timeout=30)
    assert r.status_code == 200, describe(r)
    return r.json()


def cas_auth(tok: dict) -> dict:
    return {"Authorization": f"Bearer {tok['accessToken']}"}


def xet_hash_of(hub, rid: str, path: str, token: str | None) -> str:
    h = requests.head(f"{hub.endpoint}/{rid}/resolve/main/{path}", headers=bearer(token), timeout=30)
    assert h.status_code == 200 and h.headers.get("X-Xet-Hash"), describe(h)
    return h.headers["X-Xet-Hash"]


def reconstruction(tok: dict, xet_hash: str) -> requests.Response:
    return requests.get(f"{tok['casUrl']}/v1/reconstructions/{xet_hash}", headers=cas_auth(tok), timeout=30)


def first_fetch_url(tok: dict, xet_hash: str) -> str:
    r = reconstruction(tok, xet_hash)
    assert r.status_code == 200, describe(r)
    return next(iter(r.json()["fetch_info"].values()))[0]["url"]


def lfs_batch(hub, rid: str, token: str | None, operation: str, objects: list[dict],
              transfers: list[str] | None = None) -> list[dict]:
    body = {"operation": operation, "objects": objects, "transfers": transfers or ["basic"]}
    r = requests.post(f"{hub.endpoint}/{rid}.git/info/lfs/objects/batch", json=body,
                      headers={"accept": LFS_JSON, "content-type": LFS_JSON, **bearer(token)}, timeout=30)
    assert r.status_code == 200, describe(r)
    return r.json()["objects"]


def download_href(hub, rid: str, token: str | None, oid: str, size: int) -> str:
    obj = lfs_batch(hub, rid, token, "download", [{"oid": oid, "size": size}])[0]
    assert "actions" in obj, obj
    return obj["actions"]["download"]["href"]


def upload_file(api, rid: str, data: bytes, path: str = "w.bin") -> str:
    api.upload_file(path_or_fileobj=data, path_in_repo=path, repo_id=rid)
    return sha256_bytes(data)


def assert_refused(r: requests.Response, statuses: tuple[int, ...]) -> None:
    """An HF-style error with one of statuses, and not a byte of content."""
    assert_hf_error(r, statuses)
    assert r.headers.get("X-Error-Message"), describe(r)


# ---- finding 7: revocation ------------------------------------------------------------------------


def test_revoked_token_ends_its_xet_tokens_and_signed_urls(hub, api):
    """Everything a hub token obtained stops working the moment the token is revoked."""
    rid = hub.repo_id("revoke")
    api.create_repo(rid, private=True)
    data = os.urandom(1 << 20)
    oid = upload_file(api, rid, data)
    name = hub.unique("soon-revoked")
    t = hub.create_token("alice", "write", name)
    xet_hash = xet_hash_of(hub, rid, "w.bin", t)

    # What the token obtains: Xet read and write tokens, a signed xorb range, signed LFS URLs.
    read_tok = xet_token(hub, rid, t)
    write_tok = xet_token(hub, rid, t, write=True)
    fetch_url = first_fetch_url(read_tok, xet_hash)
    dl = download_href(hub, rid, t, oid, len(data))
    new_data = os.urandom(300 << 10)
    new_oid = sha256_bytes(new_data)
    up = lfs_batch(hub, rid, t, "upload", [{"oid": new_oid, "size": len(new_data)}])[0]
    put_href = up["actions"]["upload"]["href"]
    big = 100 << 20  # above the multipart threshold; no byte of it is ever sent
    mp = lfs_batch(hub, rid, t, "upload", [{"oid": hashlib.sha256(b"never sent").hexdigest(), "size": big}],
                   transfers=["basic", "multipart"])[0]
    complete_href = mp["actions"]["upload"]["href"]
    part_href = mp["actions"]["upload"]["header"]["1"]
    part_size = int(mp["actions"]["upload"]["header"]["chunk_size"])
    bogus_xorb = f"{tok_url(write_tok)}/v1/xorbs/default/{'0' * 64}"

    # Before: each works (or gets past authorization to the content checks).
    assert reconstruction(read_tok, xet_hash).status_code == 200
    assert reconstruction(write_tok, xet_hash).status_code == 200
    r = requests.get(fetch_url, timeout=30)
    assert r.status_code == 200 and len(r.content) > 0, describe(r)
    r = requests.get(dl, timeout=60)
    assert r.status_code == 200 and sha256_bytes(r.content) == oid, describe(r)
    assert_hf_error(requests.post(bogus_xorb, data=b"junk", headers=cas_auth(write_tok), timeout=30), 400)
    assert_hf_error(requests.post(complete_href, json={"oid": "0" * 64, "parts": []}, timeout=30), 400)

    hub.admin("token", "revoke", "alice", "--name", name)

    # After: the Xet tokens are dead (401, as an invalid token: hf_xet then asks the refresh URL, which
    # refuses the revoked hub token), and so is every signed URL (403: there are no credentials to retry).
    for tok in (read_tok, write_tok):
        assert_hf_error(reconstruction(tok, xet_hash), 401, "InvalidXetToken")
    assert_hf_error(requests.post(bogus_xorb, data=b"junk", headers=cas_auth(write_tok), timeout=30), 401,
                    "InvalidXetToken")
    assert_hf_error(requests.post(f"{tok_url(write_tok)}/v1/shards", data=b"junk", headers=cas_auth(write_tok),
                                  timeout=30), 401, "InvalidXetToken")
    r = requests.get(fetch_url, timeout=30)
    assert_refused(r, (403,))
    assert len(r.content) < 1024
    r = requests.get(dl, timeout=30)
    assert_refused(r, (403,))
    assert data[:64] not in r.content
    assert_refused(requests.put(put_href, data=new_data, timeout=60), (403,))
    assert_refused(requests.put(part_href, data=b"x" * 1024, headers={"Content-Length": "1024"}, timeout=30), (403,))
    assert part_size > 1024
    assert_refused(requests.post(complete_href, json={"oid": "0" * 64, "parts": []}, timeout=30), (403,))
    # The refused upload stored nothing: alice's own batch does not find the object.
    obj = lfs_batch(hub, rid, hub.token("alice"), "download", [{"oid": new_oid, "size": len(new_data)}])[0]
    assert obj.get("error", {}).get("code") == 404, obj
    # The refresh URL refuses the revoked hub token too (so hf_xet cannot renew its way back in).
    r = requests.get(f"{hub.endpoint}/api/models/{rid}/xet-read-token/main", headers=bearer(t), timeout=30)
    assert_hf_error(r, 401)
    # Another token of the same user is untouched.
    assert reconstruction(xet_token(hub, rid, hub.token("alice")), xet_hash).status_code == 200


def tok_url(tok: dict) -> str:
    return tok["casUrl"]


# ---- finding 7: privacy changes -------------------------------------------------------------------


def test_made_private_ends_anonymous_xet_tokens_and_signed_urls(hub, api):
    rid = hub.repo_id("to-private")
    api.create_repo(rid)
    data = os.urandom(1 << 20)
    oid = upload_file(api, rid, data)
    xet_hash = xet_hash_of(hub, rid, "w.bin", None)
    anon_tok = xet_token(hub, rid, None)
    anon_fetch = first_fetch_url(anon_tok, xet_hash)
    anon_dl = download_href(hub, rid, None, oid, len(data))
    owner_tok = xet_token(hub, rid, hub.token("alice"))
    owner_dl = download_href(hub, rid, hub.token("alice"), oid, len(data))
    assert requests.get(anon_fetch, timeout=30).status_code == 200
    assert requests.get(anon_dl, timeout=30).status_code == 200

    api.update_repo_settings(rid, private=True)

    # Anonymous grants: the repository now looks missing to them, at once.
    assert_hf_error(reconstruction(anon_tok, xet_hash), 401, "InvalidXetToken")
    for url in (anon_fetch, anon_dl):
        r = requests.get(url, timeout=30)
        assert_refused(r, (404,))
        assert data[:64] not in r.content
    assert_hf_error(requests.get(anon_dl, timeout=30), 404, "RepoNotFound")
    # The owner's grants still hold: the check is a re-check of the same rules, not a blanket revocation.
    assert reconstruction(owner_tok, xet_hash).status_code == 200
    r = requests.get(owner_dl, timeout=60)
    assert r.status_code == 200 and sha256_bytes(r.content) == oid, describe(r)

    # Public again: the anonymous URL (still within its lifetime) works again.
    api.update_repo_settings(rid, private=False)
    assert reconstruction(anon_tok, xet_hash).status_code == 200
    assert requests.get(anon_fetch, timeout=30).status_code == 200


def test_member_demoted_to_read_loses_its_write_grants(hub, api):
    """bob, a write member of an org, is demoted to read: his signed upload URL and Xet write token stop
    writing at once; his download URL keeps working (reading is still his right). (Removal from the org,
    which has no admin command, is covered by auth_test's LostMembershipOrRoleEndsGrants.)"""
    org = hub.unique("org")
    hub.admin("org", "create", org, "--owner", "alice")
    hub.admin("org", "add-member", org, "bob", "--role", "write")
    bob = hub.token("bob")
    rid = f"{org}/{hub.unique('member')}"
    api.create_repo(rid, private=True)
    data = os.urandom(1 << 20)
    oid = upload_file(api, rid, data)
    dl = download_href(hub, rid, bob, oid, len(data))
    new_data = os.urandom(200 << 10)
    up = lfs_batch(hub, rid, bob, "upload", [{"oid": sha256_bytes(new_data), "size": len(new_data)}])[0]
    put_href = up["actions"]["upload"]["href"]
    write_tok = xet_token(hub, rid, bob, write=True)
    bogus_xorb = f"{tok_url(write_tok)}/v1/xorbs/default/{'0' * 64}"
    assert_hf_error(requests.post(bogus_xorb, data=b"junk", headers=cas_auth(write_tok), timeout=30), 400)

    hub.admin("org", "add-member", org, "bob", "--role", "read")
    assert_refused(requests.put(put_href, data=new_data, timeout=60), (403,))
    assert_hf_error(requests.post(bogus_xorb, data=b"junk", headers=cas_auth(write_tok), timeout=30), 403)
    r = requests.get(dl, timeout=60)
    assert r.status_code == 200 and sha256_bytes(r.content) == oid, describe(r)
    assert reconstruction(write_tok, xet_hash_of(hub, rid, "w.bin", bob)).status_code == 200


# ---- finding 7: deletion ---------------------------------------------------------------------------


def test_deleted_repo_stops_serving_its_signed_urls(hub, api):
    rid = hub.repo_id("deleted")
    api.create_repo(rid)
    data = os.urandom(1 << 20)
    oid = upload_file(api, rid, data)
    xet_hash = xet_hash_of(hub, rid, "w.bin", None)
    anon_tok = xet_token(hub, rid, None)
    urls = [download_href(hub, rid, None, oid, len(data)), download_href(hub, rid, hub.token("alice"), oid, len(data)),
            first_fetch_url(anon_tok, xet_hash)]
    for u in urls:
        assert requests.get(u, timeout=60).status_code == 200

    api.delete_repo(rid)
    for u in urls:
        r = requests.get(u, timeout=30)
        assert_refused(r, (404,))
        assert data[:64] not in r.content
    assert_hf_error(reconstruction(anon_tok, xet_hash), 401, "InvalidXetToken")

    # A new repository of the same name, holding the same bytes, is another repository: the old URLs
    # stay dead (they are bound to the repository's id, never reused).
    api.create_repo(rid)
    upload_file(api, rid, data)
    for u in urls:
        assert_refused(requests.get(u, timeout=30), (404,))


# ---- finding 8: one server per embedded data folder ---------------------------------------------


def second_server(first: Hub, tmp) -> Hub:
    port = free_port()
    return Hub(endpoint=f"http://127.0.0.1:{port}", port=port, data_dir=first.data_dir, binary=first.binary,
               log_path=tmp / "second.log", tmp=tmp, extra_args=first.extra_args)


def test_second_server_on_an_embedded_data_folder_is_refused(tmp_path):
    first = start_hub(tmp_path / "one")
    try:
        first.create_user("ann", admin=True)
        token = first.create_token("ann", "write", "ann")
        from huggingface_hub import HfApi

        HfApi(endpoint=first.endpoint, token=token).create_repo("ann/pub")
        second = second_server(first, tmp_path)
        if _hub.BACKEND.split("+")[0] == "postgres" or "--metadata-url" in first.extra_args:
            # Scale-out: several servers share the folder by design; both run.
            second.start()
            try:
                assert requests.get(f"{second.endpoint}/api/models/ann/pub", timeout=30).status_code == 200
            finally:
                second.stop()
            return
        with pytest.raises(RuntimeError):
            second.start(timeout=30)
        assert second.proc is not None and second.proc.returncode not in (0, None)
        log = second.log_text()
        assert str(first.data_dir) in log and f"pid {first.proc.pid}" in log, log
        assert "in use by another modelhub" in log, log
        # The first keeps serving, and the admin CLI still runs beside it.
        assert requests.get(f"{first.endpoint}/api/models/ann/pub", timeout=30).status_code == 200
        other = first.create_token("ann", "read", "beside-the-server")
        r = requests.get(f"{first.endpoint}/api/whoami-v2", headers=bearer(other), timeout=30)
        assert r.status_code == 200, describe(r)
        assert first.admin_run("stats").returncode == 0
        # A server killed outright leaves no stale lock: the next one starts.
        first.proc.kill()
        first.proc.wait(timeout=30)
        second.start()
        try:
            assert requests.get(f"{second.endpoint}/api/models/ann/pub", timeout=30).status_code == 200
        finally:
            second.stop()
    finally:
        first.stop()

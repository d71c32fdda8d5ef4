"""Repository management through huggingface_hub: create, info, listings, move, delete, visibility."""

from __future__ import annotations

import re
import time

import pytest
import requests
from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.utils._pagination import paginate

from _util import bearer, describe, git_blob_sha1, sha256_bytes

HEX40 = re.compile(r"^[0-9a-f]{40}$")


def test_whoami(hub, api, bob_api):
    me = api.whoami()
    assert me["name"] == "alice"
    assert hub.org in [o["name"] for o in me.get("orgs", [])]
    token = me.get("auth", {}).get("accessToken", {})
    assert token.get("role") == "write", me
    assert token.get("displayName") == "alice-write", me
    assert bob_api.whoami()["name"] == "bob"


def test_create_model_repo(hub, api):
    repo_id = hub.repo_id("model")
    url = api.create_repo(repo_id)
    assert url.repo_id == repo_id
    assert str(url) == f"{hub.endpoint}/{repo_id}"
    info = api.model_info(repo_id)
    assert info.id == repo_id
    assert HEX40.match(info.sha or ""), f"new repo needs an initial commit, sha={info.sha!r}"
    assert info.private is False
    assert ".gitattributes" in [s.rfilename for s in info.siblings or []]
    assert api.repo_exists(repo_id)


def test_create_repo_exist_ok(hub, api):
    repo_id = hub.repo_id("exists")
    api.create_repo(repo_id)
    with pytest.raises(HfHubHTTPError) as e:
        api.create_repo(repo_id)
    assert e.value.response.status_code == 409
    url = api.create_repo(repo_id, exist_ok=True)
    assert url.repo_id == repo_id


def test_create_dataset_repo(hub, api):
    repo_id = hub.repo_id("ds")
    url = api.create_repo(repo_id, repo_type="dataset")
    assert str(url) == f"{hub.endpoint}/datasets/{repo_id}"
    info = api.dataset_info(repo_id)
    assert info.id == repo_id and HEX40.match(info.sha or "")
    assert api.repo_exists(repo_id, repo_type="dataset")
    # the same name is free in the model namespace
    assert not api.repo_exists(repo_id, repo_type="model")


def test_create_repo_in_org(hub, api, bob_api):
    repo_id = hub.repo_id("orgrepo", owner=hub.org)
    api.create_repo(repo_id)
    assert api.model_info(repo_id).id == repo_id
    # bob is not a member of the org
    with pytest.raises(HfHubHTTPError) as e:
        bob_api.create_repo(hub.repo_id("intruder", owner=hub.org))
    assert e.value.response.status_code in (401, 403), describe(e.value.response)


def test_private_repo_visibility(hub, api, bob_api, anon_api):
    repo_id = hub.repo_id("private")
    api.create_repo(repo_id, private=True)
    assert api.model_info(repo_id).private is True
    with pytest.raises(RepositoryNotFoundError):
        bob_api.model_info(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        anon_api.model_info(repo_id)
    assert not bob_api.repo_exists(repo_id)
    assert not anon_api.repo_exists(repo_id)
    # a private repo looks exactly like a missing one from outside
    r_priv = requests.get(f"{hub.endpoint}/api/models/{repo_id}", headers=bearer(hub.token("bob")), timeout=30)
    r_missing = requests.get(f"{hub.endpoint}/api/models/alice/does-not-exist-{time.time_ns()}",
                             headers=bearer(hub.token("bob")), timeout=30)
    assert r_priv.status_code == r_missing.status_code == 404, (describe(r_priv), describe(r_missing))
    assert r_priv.headers.get("X-Error-Code") == r_missing.headers.get("X-Error-Code") == "RepoNotFound"


def test_update_repo_settings_private(hub, api, anon_api):
    repo_id = hub.repo_id("toggle")
    api.create_repo(repo_id)
    assert anon_api.model_info(repo_id).id == repo_id
    api.update_repo_settings(repo_id, private=True)
    assert api.model_info(repo_id).private is True
    with pytest.raises(RepositoryNotFoundError):
        anon_api.model_info(repo_id)
    api.update_repo_settings(repo_id, private=False)
    assert anon_api.model_info(repo_id).private is False


def test_repo_info_revision_and_files_metadata(hub, api):
    repo_id = hub.repo_id("info")
    api.create_repo(repo_id)
    first = api.model_info(repo_id).sha
    text = b'{"hello": "world"}\n'
    weights = bytes(range(256)) * 40  # 10 KiB, *.bin is LFS by the default .gitattributes
    c = api.create_commit(repo_id, [CommitOperationAdd("config.json", text),
                                    CommitOperationAdd("model.bin", weights)], commit_message="add files")
    assert HEX40.match(c.oid)
    assert "/commit/" in c.commit_url

    info = api.model_info(repo_id, files_metadata=True)
    assert info.sha == c.oid
    sib = {s.rfilename: s for s in info.siblings}
    assert {"config.json", "model.bin", ".gitattributes"} <= set(sib)
    assert sib["config.json"].size == len(text)
    assert sib["config.json"].blob_id == git_blob_sha1(text)
    assert sib["config.json"].lfs is None
    assert sib["model.bin"].size == len(weights)
    assert sib["model.bin"].lfs is not None, "model.bin should be stored as LFS"
    assert sib["model.bin"].lfs.sha256 == sha256_bytes(weights)
    assert sib["model.bin"].lfs.size == len(weights)

    old = api.model_info(repo_id, revision=first)
    assert old.sha == first
    assert "config.json" not in [s.rfilename for s in old.siblings]
    assert api.repo_info(repo_id, revision=c.oid[:10]).sha == c.oid
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="no-such-branch")


def _make_org(hub, prefix: str) -> str:
    org = hub.unique(prefix)
    hub.admin("org", "create", org, "--owner", "alice")
    return org


def test_list_models_pagination(hub, api):
    org = _make_org(hub, "pager")
    created = []
    for i in range(7):
        rid = f"{org}/m{i}"
        api.create_repo(rid)
        created.append(rid)

    assert sorted(m.id for m in api.list_models(author=org)) == sorted(created)
    assert len(list(api.list_models(author=org, limit=3))) == 3

    # Raw: a small page via `limit` must come with an absolute Link rel="next" that leads to the rest.
    r = requests.get(f"{hub.endpoint}/api/models", params={"author": org, "limit": 3}, timeout=30)
    assert r.status_code == 200, describe(r)
    assert len(r.json()) == 3
    assert "next" in r.links, f"no Link rel=next on a partial page: {describe(r)} Link={r.headers.get('Link')}"
    assert r.links["next"]["url"].startswith(hub.endpoint + "/"), r.headers.get("Link")
    assert re.search(r'<https?://[^>]+>;\s+rel="next"', r.headers["Link"]), "JS clients need '; rel=' spacing"

    # The client's own paginator follows Link verbatim.
    seen = [m["id"] for m in paginate(f"{hub.endpoint}/api/models", params={"author": org, "limit": 3},
                                      headers={})]
    assert len(seen) == len(set(seen)) == 7, seen
    assert sorted(seen) == sorted(created)


def test_list_datasets_pagination(hub, api):
    org = _make_org(hub, "dpager")
    created = [f"{org}/d{i}" for i in range(5)]
    for rid in created:
        api.create_repo(rid, repo_type="dataset")
    api.create_repo(f"{org}/not-a-dataset")  # a model: must not be listed
    assert sorted(d.id for d in api.list_datasets(author=org)) == sorted(created)
    seen = [d["id"] for d in paginate(f"{hub.endpoint}/api/datasets", params={"author": org, "limit": 2},
                                      headers={})]
    assert sorted(seen) == sorted(created)


def test_list_models_search_author_sort(hub, api):
    org = _make_org(hub, "search")
    ids = [f"{org}/alpha-needle", f"{org}/beta-needle", f"{org}/gamma-hay"]
    for rid in ids:
        api.create_repo(rid)
        time.sleep(0.05)
    assert sorted(m.id for m in api.list_models(author=org, search="needle")) == ids[:2]
    assert [m.id for m in api.list_models(search=f"{org}/gamma")] == [ids[2]]
    assert list(api.list_models(author=org, search="nothing-matches-this")) == []

    by_created = [m.id for m in api.list_models(author=org, sort="created_at")]
    assert by_created[0] == ids[2], f"sort=createdAt should put the newest first: {by_created}"
    time.sleep(0.05)
    api.upload_file(path_or_fileobj=b"touch\n", path_in_repo="touch.txt", repo_id=ids[0])
    by_modified = [m.id for m in api.list_models(author=org, sort="last_modified")]
    assert by_modified[0] == ids[0], f"sort=lastModified should put the last modified first: {by_modified}"


def test_private_repo_hidden_from_listing(hub, api, bob_api, anon_api):
    org = _make_org(hub, "hidden")
    api.create_repo(f"{org}/public")
    api.create_repo(f"{org}/secret", private=True)
    assert sorted(m.id for m in api.list_models(author=org)) == [f"{org}/public", f"{org}/secret"]
    assert [m.id for m in bob_api.list_models(author=org)] == [f"{org}/public"]
    assert [m.id for m in anon_api.list_models(author=org)] == [f"{org}/public"]


def test_move_repo(hub, api):
    src = hub.repo_id("move-src")
    dst = hub.repo_id("move-dst")
    api.create_repo(src)
    api.upload_file(path_or_fileobj=b"kept across the move\n", path_in_repo="a.txt", repo_id=src)
    sha = api.model_info(src).sha
    api.move_repo(from_id=src, to_id=dst)
    info = api.model_info(dst)
    assert info.id == dst and info.sha == sha
    r = requests.get(f"{hub.endpoint}/{dst}/resolve/main/a.txt", timeout=30)
    assert r.status_code == 200 and r.content == b"kept across the move\n", describe(r)
    # the old name either redirects to the new one or is gone
    try:
        assert api.model_info(src).id == dst
    except RepositoryNotFoundError:
        pass
    with pytest.raises(HfHubHTTPError):
        api.create_repo(dst)  # 409: the destination exists now


def test_delete_repo(hub, api):
    repo_id = hub.repo_id("delete")
    api.create_repo(repo_id)
    assert api.repo_exists(repo_id)
    api.delete_repo(repo_id)
    assert not api.repo_exists(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo(repo_id)
    api.delete_repo(repo_id, missing_ok=True)
    # the name can be reused, and starts empty
    api.create_repo(repo_id)
    assert [s.rfilename for s in api.model_info(repo_id).siblings] == [".gitattributes"]


def test_bob_cannot_delete_alice_repo(hub, api, bob_api):
    repo_id = hub.repo_id("keep")
    api.create_repo(repo_id)
    with pytest.raises(HfHubHTTPError) as e:
        bob_api.delete_repo(repo_id)
    assert e.value.response.status_code in (403, 404), describe(e.value.response)
    assert api.repo_exists(repo_id)


def test_org_roles(hub, api):
    """Org members: read sees private repos but cannot write; write can commit; outsiders see nothing."""
    org = _make_org(hub, "roles")
    for user in ("carol", "dave"):
        if user not in hub.users:
            hub.create_user(user)
            from _hub import User

            hub.users[user] = User(user, hub.create_token(user, "write", f"{user}-write"))
    hub.admin("org", "add-member", org, "carol", "--role", "write")
    hub.admin("org", "add-member", org, "bob", "--role", "read")
    rid = f"{org}/private-model"
    api.create_repo(rid, private=True)
    head = api.model_info(rid).sha

    from huggingface_hub import HfApi

    carol, bob, dave = (HfApi(endpoint=hub.endpoint, token=hub.token(u)) for u in ("carol", "bob", "dave"))
    assert bob.model_info(rid).sha == head
    with pytest.raises(HfHubHTTPError) as e:
        bob.upload_file(path_or_fileobj=b"bob\n", path_in_repo="bob.txt", repo_id=rid)
    assert e.value.response.status_code == 403, describe(e.value.response)
    c = carol.upload_file(path_or_fileobj=b"carol\n", path_in_repo="carol.txt", repo_id=rid)
    assert api.model_info(rid).sha == c.oid
    with pytest.raises(RepositoryNotFoundError):
        dave.model_info(rid)
    assert [m.id for m in dave.list_models(author=org)] == []
    assert [m.id for m in bob.list_models(author=org)] == [rid]
    # role change: bob becomes a writer
    hub.admin("org", "add-member", org, "bob", "--role", "write")
    bob.upload_file(path_or_fileobj=b"bob\n", path_in_repo="bob.txt", repo_id=rid)
    assert bob.file_exists(rid, "bob.txt")

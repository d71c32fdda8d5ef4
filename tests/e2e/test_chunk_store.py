"""Chunk store (docs/formats/chunk-store.md): every LFS file is stored as Xet content-defined chunks in
xorbs with a server-wide chunk index, so a new version of a file costs only its changed chunks.

Measured black-box: the bytes of DATA/blobs/xorbs on disk after each upload, for a ~1 GiB safetensors
model and its everyday variants (identical copy in another user's repo, a few tensors changed, header
grown so every byte shifts, tensors appended, config.json-only edit); every version downloads
byte-identical. Then `modelhub admin gc --grace-seconds 0` racing 4 concurrent uploads, gc after a repo
deletion, and a flipped byte in a stored xorb (fsck names the repo and file, the download fails loudly).

Uploads here take the LFS path (huggingface_hub with Xet switched off for this module), so the
server does the chunking; tests/e2e/test_xet.py covers the same store through hf_xet. Downloads use
whatever the client picks (Xet when available), and both paths are counted.

The generator is bench/chunkstore/variants_corpus.py (shared with bench/chunkstore/variants.sh).

Knobs: MODELHUB_E2E_CS_MB  size of the base model in MiB (default 1024; e.g. 128 for a quick run).
Printed figures (pytest -s; MB = 10^6 bytes) are also written to tests/e2e/.results/chunk_store.txt.
The gc/fsck/stats tests need `modelhub admin gc`, `fsck` and `stats` (in the build since 3078f69;
a missing subcommand fails the test).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from huggingface_hub import CommitOperationAdd, hf_hub_download

from _hub import REPO_ROOT
from _util import describe, sha256_bytes, sha256_file

sys.path.insert(0, str(REPO_ROOT / "bench" / "chunkstore"))
import variants_corpus as vc  # noqa: E402

MiB = 1 << 20
CS_MB = int(os.environ.get("MODELHUB_E2E_CS_MB", "1024"))
GC_MB = max(8, min(128, CS_MB // 8))  # the two larger of the 4 concurrent uploads of the gc test
RESULTS = Path(__file__).resolve().parent / ".results" / "chunk_store.txt"
MODEL_PATH = "model.safetensors"

# The 1 GiB corpus takes minutes on a small shared machine: more than the default per-test timeout.
pytestmark = pytest.mark.timeout(1800)


# ---- helpers -----------------------------------------------------------------------------------------

def report(line: str) -> None:
    """Prints a figure (pytest -s) and appends it to the results file."""
    print(line, flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    ignore = RESULTS.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")  # ignores itself too: the results never show up in git status
    with open(RESULTS, "a") as f:
        f.write(line + "\n")


def mib(n: int) -> str:
    """n in MB (10^6 bytes), as the report lines print it."""
    return f"{n / 1e6:.2f}"


def human(n: int) -> str:
    return f"{n} B" if abs(n) < MiB else f"{n / 1e6:.2f} MB"


def admin_cmd(hub, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    # The binary may be missing for a moment while it is being rebuilt (the server keeps running).
    deadline = time.monotonic() + 300
    while not os.access(hub.binary, os.X_OK) and time.monotonic() < deadline:
        time.sleep(2)
    cmd = [str(hub.binary), "admin", "--data", str(hub.data_dir), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


_SUPPORTED: dict[str, bool] = {}


def admin_has(hub, sub: str) -> bool:
    """Whether this binary has `modelhub admin SUB`. (`admin SUB --help` exits 0 even when SUB does not
    exist, printing the parent's help, so the usage line is checked too.)"""
    if sub not in _SUPPORTED:
        cp = admin_cmd(hub, sub, "--help", timeout=60)
        out = cp.stdout + cp.stderr
        _SUPPORTED[sub] = cp.returncode == 0 and re.search(rf"\badmin {sub}\b", out) is not None
    return _SUPPORTED[sub]


def need_admin(hub, *subs: str) -> None:
    missing = [s for s in subs if not admin_has(hub, s)]
    assert not missing, f"`modelhub admin {'/'.join(missing)}` is missing from this build"


def gc(hub, grace: int = 0) -> subprocess.CompletedProcess:
    # Xorbs too: no Xet client of this module holds cached shards naming them (uploads here are LFS).
    cp = admin_cmd(hub, "gc", "--grace-seconds", str(grace), "--xorb-grace-seconds", str(grace))
    assert cp.returncode == 0, f"admin gc failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}"
    return cp


def fsck(hub) -> subprocess.CompletedProcess:
    return admin_cmd(hub, "fsck")


def metrics(hub) -> dict[str, float]:
    r = requests.get(f"{hub.endpoint}/metrics", headers=hub.auth("alice"), timeout=30)
    assert r.status_code == 200, describe(r)
    out = {}
    for line in r.text.splitlines():
        m = re.match(r"^(modelhub_(?:chunkstore|xet)_\w+?)(?:_total)?\s+(\S+)$", line)
        if m:
            # chunk store counters unprefixed, Xet CAS counters as xet_*
            out[m.group(1).removeprefix("modelhub_chunkstore_").removeprefix("modelhub_")] = float(m.group(2))
    return out


def probes_of(path: Path, size: int) -> dict[tuple[int, int], bytes]:
    """A few byte ranges of a local file (head, an unaligned middle piece, tail), to check Range GETs
    later without keeping the whole file."""
    n = min(MiB, size)
    offs = {0, max(0, size // 2 - 12345), size - n}
    out = {}
    with open(path, "rb") as f:
        for off in sorted(offs):
            f.seek(off)
            out[(off, n)] = f.read(n)
    return out


def check_ranges(hub, repo_id: str, revision: str, path: str, probes: dict, token: str) -> None:
    url = f"{hub.endpoint}/{repo_id}/resolve/{revision}/{path}"
    for (off, n), want in probes.items():
        r = requests.get(url, headers={"Range": f"bytes={off}-{off + n - 1}", "authorization": f"Bearer {token}"},
                         timeout=120)
        assert r.status_code == 206, describe(r)
        assert r.content == want, f"{repo_id}@{revision[:8]}/{path} bytes {off}+{n} differ"


def download_sha(repo_id: str, path: str, revision: str, token: str, cache: Path) -> str:
    try:
        p = hf_hub_download(repo_id, path, revision=revision, cache_dir=cache, token=token)
        return sha256_file(p)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _chain(e: BaseException):
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def http_status_in_chain(e: BaseException) -> int | None:
    """The HTTP status of the first exception in e's cause chain that carries a response."""
    for x in _chain(e):
        status = getattr(getattr(x, "response", None), "status_code", None)
        if status:
            return status
    return None


def describe_chain(e: BaseException) -> str:
    return " <- ".join(f"{type(x).__name__}: {str(x).splitlines()[0] if str(x) else ''}" for x in _chain(e))


@dataclass
class Uploaded:
    key: str
    name: str
    repo_id: str
    path: str
    revision: str
    sha256: str
    size: int
    user: str
    new_bytes: int
    logical: int = 0
    stored_before: int = 0
    stored_after: int = 0
    seconds: float = 0.0
    probes: dict = field(default_factory=dict)

    @property
    def stored_growth(self) -> int:
        return self.stored_after - self.stored_before


# ---- the corpus: base model + variants a-e ---------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def lfs_uploads():
    """huggingface_hub uploads through the LFS batch API in this module (server-side chunking)."""
    from huggingface_hub import constants

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(constants, "HF_HUB_DISABLE_XET", True)
        yield


@pytest.fixture(scope="module")
def corpus(hub, api, bob_api, tmp_path_factory):
    """Uploads the base model and variants a-e in order, measuring the xorb bytes on disk around each
    upload. Returns {key: Uploaded}; the local files are deleted as soon as they are uploaded."""
    work = tmp_path_factory.mktemp("chunk-store")
    alice_repo = hub.repo_id("cs-model")
    bob_repo = hub.repo_id("cs-copy", owner="bob")
    api.create_repo(alice_repo)
    bob_api.create_repo(bob_repo)
    report(f"== chunk store corpus {time.strftime('%Y-%m-%dT%H:%M:%S')}: base {CS_MB} MiB, "
           f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    out: dict[str, Uploaded] = {}
    for v in vc.corpus(CS_MB):
        t0 = time.perf_counter()
        local = work / f"{v.key}.safetensors"
        info = vc.write_model(v.model, local) if v.model is not None else None
        t_gen = time.perf_counter() - t0
        user, client, repo_id = ("bob", bob_api, bob_repo) if v.name == "copy" else ("alice", api, alice_repo)
        ops, logical = [], 0
        if info is not None:
            ops.append(CommitOperationAdd(MODEL_PATH, str(local)))
            logical += info.size
        if v.config is not None:
            ops.append(CommitOperationAdd("config.json", v.config))
            logical += len(v.config)
        before = hub.blobs.total()
        t1 = time.perf_counter()
        ci = client.create_commit(repo_id, ops, commit_message=f"variant {v.key}: {v.what}")
        secs = time.perf_counter() - t1
        after = hub.blobs.total()
        if info is not None:
            u = Uploaded(v.key, v.name, repo_id, MODEL_PATH, ci.oid, info.sha256, info.size, user, v.new_bytes,
                         probes=probes_of(local, info.size))
            local.unlink()
        else:
            u = Uploaded(v.key, v.name, repo_id, "config.json", ci.oid, sha256_bytes(v.config), len(v.config), user,
                         v.new_bytes)
        u.logical, u.stored_before, u.stored_after, u.seconds = logical, before, after, secs
        out[v.key] = u
        report(f"variant {v.key} ({v.name}: {v.what}): logical +{mib(logical)} MB, stored +{mib(u.stored_growth)} MB "
               f"(new content {human(v.new_bytes)}; generate {t_gen:.1f} s, upload {secs:.1f} s)")
    total_logical = sum(u.logical for u in out.values())
    stored = hub.blobs.total()
    report(f"corpus total: logical {mib(total_logical)} MB, xorbs on disk {mib(stored)} MB "
           f"({100 * (1 - stored / total_logical):.1f}% saved)")
    return out


def test_base_model_is_stored_once(corpus):
    base = corpus["base"]
    # random BF16 bytes do not compress: the xorbs hold the file plus small framing (chunk headers, footer)
    assert base.stored_growth <= base.size * 1.01 + MiB, (base.stored_growth, base.size)
    assert base.stored_growth >= base.size * 0.9, (
        f"stored growth {base.stored_growth} for a {base.size}-byte random file: is DATA/blobs/xorbs the store?")


@pytest.mark.parametrize("key", ["a", "b", "c", "d", "e"])
def test_variant_costs_only_new_content(corpus, key):
    u, size = corpus[key], corpus["base"].size
    bounds = {
        "a": ("identical copy < 1% of the file", size * 0.01),
        "b": ("few tensors changed < changed bytes x 1.5 + 4 MiB", u.new_bytes * 1.5 + 4 * MiB),
        "c": ("bytes inserted near the start < 5% of the file", size * 0.05),
        "d": ("tensors appended < appended bytes x 1.2 + 4 MiB", u.new_bytes * 1.2 + 4 * MiB),
        "e": ("config.json-only change < 1 MiB of xorbs", MiB),
    }
    what, limit = bounds[key]
    assert u.stored_growth <= limit, (
        f"variant {key} ({u.name}): stored +{u.stored_growth} bytes, limit {int(limit)} ({what}); "
        f"file {u.size} bytes, new content {u.new_bytes} bytes")


def test_every_version_downloads_byte_identical(hub, corpus, tmp_path):
    """hf_hub_download of every variant at its own commit; sha256 compared. Read amplification from the
    exported counters (bytes read from storage / bytes served) stays near 1 for full downloads."""
    m0 = metrics(hub)
    served_files = 0
    for key, u in corpus.items():
        got = download_sha(u.repo_id, u.path, u.revision, hub.token(u.user), tmp_path / f"cache-{key}")
        assert got == u.sha256, f"variant {key}: {u.repo_id}@{u.revision}/{u.path} sha256 {got}, want {u.sha256}"
        if u.path == MODEL_PATH:
            served_files += u.size
    m1 = metrics(hub)
    if not m0:
        pytest.fail("/metrics exports no modelhub_chunkstore_* counters")
    # Downloads go through Xet (hf_xet fetches xorb ranges) or plain resolve (the server rebuilds
    # the file): bytes served is the sum of both paths.
    read = m1["bytes_read"] - m0["bytes_read"]
    plain = m1["bytes_served"] - m0["bytes_served"]
    xet = m1.get("xet_xorb_bytes_served", 0) - m0.get("xet_xorb_bytes_served", 0)
    served = plain + xet
    report(f"full downloads: served {mib(int(served))} MB ({mib(int(xet))} MB as Xet xorb ranges), "
           f"read {mib(int(read))} MB from storage, read amplification {read / max(served, 1):.4f}")
    # Xet ranges are whole compressed chunks: a little less than the file bytes for compressible data.
    assert served >= served_files * 0.5, (served, served_files)
    assert read <= served * 1.1, f"read amplification {read / served:.3f} > 1.1"


def test_ranges_of_every_version(hub, corpus):
    for u in corpus.values():
        if u.probes:
            check_ranges(hub, u.repo_id, u.revision, u.path, u.probes, hub.token(u.user))
        else:  # config.json, a git blob
            r = requests.get(f"{hub.endpoint}/{u.repo_id}/resolve/{u.revision}/{u.path}", timeout=60,
                             headers={"authorization": f"Bearer {hub.token(u.user)}"})
            assert r.status_code == 200 and sha256_bytes(r.content) == u.sha256, describe(r)


def test_metrics_count_ingest(hub, api, tmp_path):
    repo_id = hub.repo_id("cs-metrics")
    api.create_repo(repo_id)
    info = vc.write_model(vc.base_model(4, n_tensors=4, seed=4242), tmp_path / "m.safetensors")
    m0 = metrics(hub)
    api.upload_file(path_or_fileobj=str(info.path), path_in_repo=MODEL_PATH, repo_id=repo_id)
    m1 = metrics(hub)
    assert m1["ingested_bytes"] - m0["ingested_bytes"] >= info.size, (m0, m1)
    assert m1["new_chunk_bytes"] - m0["new_chunk_bytes"] >= info.size * 0.99, (m0, m1)
    assert m1["xorb_bytes_written"] - m0["xorb_bytes_written"] >= info.size * 0.99, (m0, m1)


def test_stats_agree_with_the_corpus(hub, corpus):
    """`admin stats --json`: the corpus repos' logical bytes are their distinct files; the hub-wide stored
    bytes are what DATA/blobs/xorbs holds."""
    need_admin(hub, "stats")
    import json

    cp = admin_cmd(hub, "stats", "--json")
    assert cp.returncode == 0, f"admin stats failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}"
    st = json.loads(cp.stdout)
    disk = hub.blobs.total()
    report(f"stats: logical {mib(st['logicalBytes'])} MB (per repo summed {mib(st['logicalBytesPerRepo'])} MB), "
           f"stored {mib(st['storedBytes'])} MB, dedup ratio {st['dedupRatio']:.2f}; xorbs on disk {mib(disk)} MB")
    assert abs(st["storedBytes"] - disk) <= disk * 0.01 + MiB, (st["storedBytes"], disk)
    repos = {r["id"].removeprefix("models/"): r for r in st["perRepo"]}
    alice = repos[corpus["base"].repo_id]
    want = sum(u.size for u in corpus.values() if u.path == MODEL_PATH and u.repo_id == corpus["base"].repo_id)
    assert alice["logicalBytes"] == want, (alice, want)
    bob = repos[corpus["a"].repo_id]
    assert bob["logicalBytes"] == corpus["a"].size, bob
    # bob's copy references every chunk of the base once: its unique stored bytes are about the file
    assert corpus["a"].size * 0.99 <= bob["uniqueStoredBytes"] <= corpus["a"].size * 1.01 + MiB, bob


# ---- gc racing concurrent uploads; gc after a repo deletion -------------------------------------------------

def test_gc_during_concurrent_uploads(hub, api, corpus, tmp_path):
    """4 uploads of distinct files in threads while `admin gc --grace-seconds 0` runs in a loop. A race may
    break an upload (object collected before its commit): the client must get an HTTP error, and one retry
    (with gc stopped) must succeed. Then fsck is clean and every file downloads byte-identical, the earlier
    variants included."""
    need_admin(hub, "gc", "fsck")
    files = []
    # two multipart uploads (parts staged in an upload session, ingested at completion) and two single
    # PUTs (ingested while the body streams in), so gc meets both paths
    sizes = [GC_MB, GC_MB, min(48, GC_MB), min(48, GC_MB)]
    seed0 = int.from_bytes(os.urandom(4), "little") * 16
    for i in range(4):
        info = vc.write_model(vc.base_model(sizes[i], n_tensors=8, seed=seed0 + i), tmp_path / f"gc{i}.safetensors")
        repo_id = hub.repo_id(f"cs-gc{i}")
        api.create_repo(repo_id)
        files.append((repo_id, info))

    errors: dict[int, list[BaseException]] = {i: [] for i in range(4)}
    done = [False] * 4

    def upload(i: int) -> None:
        repo_id, info = files[i]
        try:
            api.upload_file(path_or_fileobj=str(info.path), path_in_repo=MODEL_PATH, repo_id=repo_id,
                            commit_message="gc race")
            done[i] = True
        except BaseException as e:  # noqa: BLE001 - reported below
            errors[i].append(e)

    threads = [threading.Thread(target=upload, args=(i,), daemon=True) for i in range(4)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    gc_runs, gc_fail = 0, []
    while any(t.is_alive() for t in threads) or gc_runs == 0:
        cp = admin_cmd(hub, "gc", "--grace-seconds", "0", "--xorb-grace-seconds", "0")
        gc_runs += 1
        if cp.returncode != 0:
            gc_fail.append(f"exit {cp.returncode}: {cp.stdout[-500:]} {cp.stderr[-500:]}")
        time.sleep(0.2)
    for t in threads:
        t.join(timeout=600)
    report(f"gc race: {gc_runs} gc runs during 4 concurrent uploads ({'+'.join(map(str, sizes))} MiB) ({time.perf_counter() - t0:.1f} s); "
           f"first attempts failed: {sum(1 for i in range(4) if not done[i])}")
    for i in range(4):
        for e in errors[i]:
            report(f"  upload {i} failed during gc: {type(e).__name__}: {str(e)[:200]} <- HTTP "
                   f"{http_status_in_chain(e)}: {describe_chain(e)[:300]}")
    assert not gc_fail, f"admin gc failed while uploads ran: {gc_fail}"
    for i in range(4):
        if not done[i]:
            e = errors[i][0]
            # a clear client-side error: an HTTP error with a status (huggingface_hub wraps it in a
            # RuntimeError "Error while uploading ..."), not a hang or a protocol failure
            status = http_status_in_chain(e)
            assert status, f"upload {i} broke without an HTTP error status: {type(e).__name__}: {e}"
            upload(i)  # one retry, gc stopped
            assert done[i], f"upload {i} failed again after a retry: {errors[i][-1]!r}"

    cp = fsck(hub)
    assert cp.returncode == 0, f"fsck after the gc race is not clean ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}"
    for i, (repo_id, info) in enumerate(files):
        got = download_sha(repo_id, MODEL_PATH, "main", hub.token("alice"), tmp_path / f"dl{i}")
        assert got == info.sha256, f"{repo_id}/{MODEL_PATH} after the gc race: sha256 {got}, want {info.sha256}"
    for u in corpus.values():  # nothing committed earlier was collected
        if u.probes:
            check_ranges(hub, u.repo_id, u.revision, u.path, u.probes, hub.token(u.user))


def test_gc_after_repo_delete_frees_only_that_repos_bytes(hub, api, bob_api, corpus, tmp_path):
    need_admin(hub, "gc")
    gc(hub)
    s0 = hub.blobs.total()

    # bob's identical copy shares every chunk with alice's repo: deleting it frees nothing
    copy = corpus["a"]
    bob_api.delete_repo(copy.repo_id)
    gc(hub)
    s1 = hub.blobs.total()
    report(f"delete bob's identical copy + gc: stored {mib(s0)} -> {mib(s1)} MB")
    assert s0 - s1 <= MiB, f"deleting a repo whose chunks another repo uses freed {s0 - s1} bytes"
    base = corpus["base"]
    check_ranges(hub, base.repo_id, base.revision, base.path, base.probes, hub.token("alice"))

    # a repo with content of its own: gc frees what its upload added, and nothing else
    repo_id = hub.repo_id("cs-delete")
    api.create_repo(repo_id)
    info = vc.write_model(vc.base_model(max(8, CS_MB // 32), n_tensors=4, seed=777), tmp_path / "own.safetensors")
    api.upload_file(path_or_fileobj=str(info.path), path_in_repo=MODEL_PATH, repo_id=repo_id)
    s2 = hub.blobs.total()
    api.delete_repo(repo_id)
    gc(hub)
    s3 = hub.blobs.total()
    added, freed = s2 - s1, s2 - s3
    report(f"delete a repo with {mib(info.size)} MB of its own + gc: upload added {mib(added)} MB, gc freed "
           f"{mib(freed)} MB")
    assert added >= info.size * 0.99, (added, info.size)
    assert abs(freed - added) <= 64 * 1024, f"gc freed {freed} bytes, the repo's upload added {added}"
    for u in corpus.values():
        if u.probes and u.key != "a":
            check_ranges(hub, u.repo_id, u.revision, u.path, u.probes, hub.token(u.user))
    if admin_has(hub, "fsck"):
        cp = fsck(hub)
        assert cp.returncode == 0, f"fsck after gc is not clean ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}"


# ---- corruption ------------------------------------------------------------------------------------------------

@pytest.fixture
def corrupted(hub, api, tmp_path):
    """A repo with one 8 MiB file of its own, one byte flipped in the middle of its xorb; restored after."""
    repo_id = hub.repo_id("cs-corrupt")
    path = "weights/corrupt-me.safetensors"
    api.create_repo(repo_id)
    seed = int.from_bytes(os.urandom(6), "little")  # content no other upload has
    info = vc.write_model(vc.base_model(8, n_tensors=4, seed=seed), tmp_path / "c.safetensors")
    blobs = hub.blobs
    before = blobs.objects("xorbs/")
    api.upload_file(path_or_fileobj=str(info.path), path_in_repo=path, repo_id=repo_id)
    new = {k: s for k, s in blobs.objects("xorbs/").items() if k not in before}
    assert new, f"the upload of a new random file wrote no xorb under xorbs/ in {hub.blob_url}"
    xorb, size = max(new.items(), key=lambda kv: kv[1])
    off = size // 3  # chunk data, far from the footer at the end
    assert off < size - 64 * 1024
    orig = blobs.flip_byte(xorb, off)
    try:
        yield repo_id, path, info
    finally:
        blobs.write(xorb, orig)


def test_corrupt_xorb_download_fails_loudly(hub, corrupted, tmp_path):
    repo_id, path, info = corrupted
    url = f"{hub.endpoint}/{repo_id}/resolve/main/{path}"
    # raw HTTP: an error status or a stream cut short, never a full-length body
    body, err, status = b"", None, 0
    try:
        with requests.get(url, headers=hub.auth("alice"), stream=True, timeout=60) as r:
            status = r.status_code
            for block in r.iter_content(1 << 16):
                body += block
    except requests.RequestException as e:
        err = e
    report(f"corrupt xorb, raw GET: HTTP {status}, {len(body)} of {info.size} bytes, "
           f"{type(err).__name__ if err else 'no client error'}")
    assert status >= 500 or err is not None or len(body) < info.size, (
        f"served a full body from a damaged xorb (HTTP {status}, {len(body)} bytes)")
    assert sha256_bytes(body) != info.sha256  # a byte was flipped: it cannot be the right file

    # huggingface_hub raises, and no file lands at its final path (cache snapshot or local_dir)
    cache, local_dir = tmp_path / "cache", tmp_path / "local"
    for kw in ({"cache_dir": cache}, {"local_dir": local_dir}):
        with pytest.raises(Exception) as ei:
            hf_hub_download(repo_id, path, token=hub.token("alice"), **kw)
        assert not isinstance(ei.value, AssertionError)
        report(f"corrupt xorb, hf_hub_download({list(kw)[0]}): {type(ei.value).__name__}: {str(ei.value)[:160]}")
    final = list(cache.glob(f"models--*/snapshots/*/{path}")) + [local_dir / path]
    for p in final:
        assert not p.exists() or sha256_file(p) == info.sha256, f"a wrong file was written to {p}"
    for p in cache.glob("models--*/blobs/*"):
        assert p.name.endswith(".incomplete") or sha256_file(p) == info.sha256, f"wrong bytes in cache blob {p}"

    # the chunks not damaged are still served (each chunk is checked on its own)
    r = requests.get(url, headers={**hub.auth("alice"), "Range": "bytes=0-4095"}, timeout=60)
    assert r.status_code == 206, describe(r)
    with open(info.path, "rb") as f:
        assert r.content == f.read(4096)


def test_fsck_names_repo_and_file_of_a_corrupt_xorb(hub, corrupted):
    need_admin(hub, "fsck")
    repo_id, path, _ = corrupted
    cp = fsck(hub)
    out = cp.stdout + cp.stderr
    report(f"fsck with a flipped byte: exit {cp.returncode}; output: {out.strip()[:400]!r}")
    assert cp.returncode == 1, f"fsck exit {cp.returncode} with a damaged xorb:\n{out}"
    assert repo_id in out, f"fsck does not name the affected repo {repo_id}:\n{out}"
    assert path in out, f"fsck does not name the affected file {path}:\n{out}"

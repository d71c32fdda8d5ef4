"""huggingface_hub 0.36 against modelhub: upload_folder, list, hf_hub_download, snapshot_download.

Runs inside .venv-hf036 (tests/requirements-hf036.txt), started by tests/e2e/test_hf036.py with
HF_ENDPOINT/HF_TOKEN/HF_HOME set, and with or without HF_HUB_DISABLE_XET=1. Prints one JSON document:
the files it generated (sha256), what the LFS batch call sent and got back, a summary of every
request the library made through its requests session (hf_xet's own CAS calls are not in it: they
are in the server log), the listing, and the sha256 of each downloaded file. Exit 0 when it ran to
the end, 1 when a call raised (the JSON then has the error and the last requests).

Usage: python roundtrip.py --repo ns/name --workdir DIR [--large-mb 24] [--repeated-mb 11]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
import traceback
from pathlib import Path

import requests

import huggingface_hub
from huggingface_hub import HfApi, configure_http_backend, hf_hub_download, snapshot_download
from huggingface_hub.hf_api import RepoFile, RepoFolder

MiB = 1 << 20
REQUESTS: list[dict] = []
LFS_BATCH: list[dict] = []


def _log_response(resp: requests.Response, *args, **kwargs) -> None:
    req = resp.request
    body = req.body
    entry = {"method": req.method, "url": req.url, "status": resp.status_code,
             "bytesSent": len(body) if isinstance(body, (bytes, str)) else -1}
    REQUESTS.append(entry)
    if req.url.endswith("/info/lfs/objects/batch"):
        rec = {"status": resp.status_code}
        try:
            rec["request"] = json.loads(body)
            rec["response"] = resp.json()
        except ValueError as e:
            rec["parseError"] = str(e)
        LFS_BATCH.append(rec)
    if "/xet-" in req.url and "-token/" in req.url:
        entry["xetHeaders"] = {k: ("<set>" if k.lower() == "x-xet-access-token" else v)
                               for k, v in resp.headers.items() if k.lower().startswith("x-xet-")}


def _session_factory() -> requests.Session:
    s = requests.Session()
    s.hooks["response"].append(_log_response)
    return s


def route_of(method: str, url: str) -> str:
    if method == "PUT":
        return "lfs:upload href"
    rules = [
        (r"/xet-write-token/", "hub:xet-write-token"), (r"/xet-read-token/", "hub:xet-read-token"),
        (r"/info/lfs/objects/batch$", "lfs:batch"), (r"/info/lfs/objects/verify$", "lfs:verify"),
        (r"/api/repos/create$", "hub:create"), (r"/preupload/", "hub:preupload"), (r"/commit/", "hub:commit"),
        (r"/api/[a-z]+s/[^?]*/tree/", "hub:tree"), (r"/api/[a-z]+s/[^?]*/revision/", "hub:revision"),
        (r"/resolve/", "hub:resolve"), (r"/api/validate-yaml$", "hub:validate-yaml"),
    ]
    path = url.split("?", 1)[0]
    for pattern, name in rules:
        if re.search(pattern, path):
            return name
    return "other"


def summarize(reqs: list[dict]) -> dict:
    out: dict = {}
    for r in reqs:
        s = out.setdefault(f"{r['method']} {route_of(r['method'], r['url'])}", {"count": 0, "statuses": {}})
        s["count"] += 1
        s["statuses"][str(r["status"])] = s["statuses"].get(str(r["status"]), 0) + 1
    return out


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 * MiB):
            h.update(block)
    return h.hexdigest()


def write(path: Path, size: int, gen) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            block = gen(min(left, MiB))
            f.write(block)
            left -= len(block)


def make_files(folder: Path, large_mb: float, repeated_mb: float) -> list[dict]:
    unit = os.urandom(MiB)
    tag = os.urandom(8).hex()
    texts = {"README.md": f"# hf 0.36 test\n\ntag {tag}\n", "config.json": json.dumps({"tag": tag, "layers": 2}),
             "nested/notes.txt": "note\n" * 300 + tag}
    for rel, text in texts.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    write(folder / "small.bin", 2048, os.urandom)                       # LFS by the *.bin rule
    write(folder / "weights" / "large.bin", int(large_mb * MiB), os.urandom)  # > 10 MB: LFS by size too
    write(folder / "repeated.bin", int(repeated_mb * MiB), lambda n: unit[:n])
    files = []
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            files.append({"path": p.relative_to(folder).as_posix(), "size": p.stat().st_size, "sha256": sha256_file(p)})
    return files


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--large-mb", type=float, default=24)
    ap.add_argument("--repeated-mb", type=float, default=11)
    args = ap.parse_args()

    configure_http_backend(backend_factory=_session_factory)
    work = Path(args.workdir)
    result: dict = {"ok": False, "phase": "setup", "repo": args.repo,
                    "versions": {"huggingface_hub": huggingface_hub.__version__},
                    "env": {k: os.environ.get(k) for k in ("HF_ENDPOINT", "HF_HUB_DISABLE_XET")}}
    try:
        import hf_xet  # noqa: F401
        from importlib.metadata import version
        result["versions"]["hf_xet"] = version("hf_xet")
    except ImportError:
        result["versions"]["hf_xet"] = None
    from huggingface_hub.utils._runtime import is_xet_available
    result["xetAvailable"] = is_xet_available()

    try:
        folder = work / "upload"
        result["files"] = make_files(folder, args.large_mb, args.repeated_mb)
        api = HfApi()

        result["phase"] = "create_repo"
        api.create_repo(args.repo)

        result["phase"] = "upload_folder"
        n0, t0 = len(REQUESTS), time.monotonic()
        info = api.upload_folder(repo_id=args.repo, folder_path=str(folder), commit_message="hf 0.36 upload")
        result["upload"] = {"seconds": round(time.monotonic() - t0, 3), "commit": info.oid,
                            "commitUrl": info.commit_url, "lfsBatch": LFS_BATCH[:], "routes": summarize(REQUESTS[n0:]),
                            "tokenResponses": [r["xetHeaders"] for r in REQUESTS[n0:] if "xetHeaders" in r]}

        result["phase"] = "list_repo_tree"
        listing = []
        for e in api.list_repo_tree(args.repo, recursive=True):
            if isinstance(e, RepoFile):
                listing.append({"type": "file", "path": e.path, "size": e.size, "blob_id": e.blob_id,
                                "lfs": dict(e.lfs) if e.lfs else None, "xetHash": getattr(e, "xet_hash", None)})
            elif isinstance(e, RepoFolder):
                listing.append({"type": "directory", "path": e.path})
        result["listing"] = listing

        result["phase"] = "hf_hub_download"
        n1, t1 = len(REQUESTS), time.monotonic()
        cache1 = work / "cache-single"
        result["downloads"] = []
        for f in result["files"]:
            local = hf_hub_download(args.repo, f["path"], cache_dir=str(cache1))
            result["downloads"].append({"path": f["path"], "sha256": sha256_file(Path(local)),
                                        "size": Path(local).stat().st_size})
        result["download"] = {"seconds": round(time.monotonic() - t1, 3), "routes": summarize(REQUESTS[n1:])}

        result["phase"] = "snapshot_download"
        n2 = len(REQUESTS)
        snap = Path(snapshot_download(args.repo, cache_dir=str(work / "cache-snapshot")))
        result["snapshot"] = {
            "files": {p.relative_to(snap).as_posix(): sha256_file(p) for p in sorted(snap.rglob("*")) if p.is_file()},
            "routes": summarize(REQUESTS[n2:]),
        }
        result["phase"] = "done"
        result["ok"] = True
    except Exception as e:  # report everything, the test decides
        result["error"] = {"type": type(e).__name__, "message": str(e), "traceback": traceback.format_exc()[-4000:]}
        result["lastRequests"] = [{k: v for k, v in r.items()} for r in REQUESTS[-15:]]
    result["requestCount"] = len(REQUESTS)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

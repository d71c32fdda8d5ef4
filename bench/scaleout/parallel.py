"""Parallel uploads then downloads through huggingface_hub against one endpoint, for
bench/scaleout/throughput.sh. Prints one line: upload_seconds download_seconds total_bytes.

usage: parallel.py ENDPOINT TOKEN REPO_ID FILE...
The files are uploaded concurrently (one thread each) to REPO_ID, then downloaded concurrently to fresh
caches and checked (sha256). The caller sets HF_HUB_DISABLE_XET (the path under test) and HF_HOME.
"""

import hashlib
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from huggingface_hub import HfApi, hf_hub_download


def sha(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 << 20):
            h.update(block)
    return h.hexdigest()


def main() -> int:
    endpoint, token, repo_id, *files = sys.argv[1:]
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, exist_ok=True)
    want = {os.path.basename(f): sha(f) for f in files}
    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(files)) as pool:
        list(pool.map(lambda f: api.upload_file(path_or_fileobj=f, path_in_repo=os.path.basename(f),
                                                repo_id=repo_id), files))
    up = time.perf_counter() - t0
    caches = tempfile.mkdtemp(prefix="scaleout-dl-")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(files)) as pool:
        got = list(pool.map(lambda name: (name, hf_hub_download(repo_id, name, token=token, endpoint=endpoint,
                                                                 cache_dir=os.path.join(caches, name))), want))
    down = time.perf_counter() - t0
    for name, path in got:
        if sha(path) != want[name]:
            raise SystemExit(f"{name}: downloaded bytes differ")
    print(f"{up:.3f} {down:.3f} {sum(os.path.getsize(f) for f in files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

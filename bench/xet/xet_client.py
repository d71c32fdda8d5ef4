"""One timed huggingface_hub operation against modelhub, for bench/xet/transfer.sh.

usage: xet_client.py upload LOCAL_PATH REPO_ID PATH_IN_REPO
       xet_client.py download REPO_ID PATH_IN_REPO CACHE_DIR
Prints the wall-clock seconds of the upload_file / hf_hub_download call on stdout (download also
prints the local path on stderr). Xet or not is decided by the environment (HF_HUB_DISABLE_XET=1 for
the plain LFS/HTTP path); HF_ENDPOINT, HF_TOKEN and HF_HOME are set by the caller.
"""

import os
import sys
import time

from huggingface_hub import HfApi, hf_hub_download


def main() -> int:
    mode = sys.argv[1]
    token = os.environ["HF_TOKEN"]
    if mode == "upload":
        local, repo_id, path_in_repo = sys.argv[2:5]
        api = HfApi(endpoint=os.environ["HF_ENDPOINT"], token=token)
        api.create_repo(repo_id, exist_ok=True)
        t0 = time.perf_counter()
        api.upload_file(path_or_fileobj=local, path_in_repo=path_in_repo, repo_id=repo_id)
        print(f"{time.perf_counter() - t0:.3f}")
    elif mode == "download":
        repo_id, path_in_repo, cache = sys.argv[2:5]
        t0 = time.perf_counter()
        path = hf_hub_download(repo_id, path_in_repo, cache_dir=cache, token=token)
        print(f"{time.perf_counter() - t0:.3f}")
        print(path, file=sys.stderr)
    else:
        raise SystemExit(f"unknown mode {mode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

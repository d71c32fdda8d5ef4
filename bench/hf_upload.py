"""upload_file of one local file to a modelhub repo (created if missing); prints the seconds the
upload_file call took (wall clock) on stdout. Used by the bench/*.sh scripts.

usage: hf_upload.py LOCAL_PATH REPO_ID PATH_IN_REPO
Environment: HF_ENDPOINT, HF_TOKEN, HF_HUB_DISABLE_XET=1 (set by bench/lib.sh).
"""

import os
import sys
import time

from huggingface_hub import HfApi


def main() -> int:
    local, repo_id, path_in_repo = sys.argv[1:4]
    api = HfApi(endpoint=os.environ["HF_ENDPOINT"], token=os.environ["HF_TOKEN"])
    api.create_repo(repo_id, exist_ok=True)
    t0 = time.perf_counter()
    api.upload_file(path_or_fileobj=local, path_in_repo=path_in_repo, repo_id=repo_id,
                    commit_message=f"bench: {path_in_repo}")
    dt = time.perf_counter() - t0
    print(f"{dt:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

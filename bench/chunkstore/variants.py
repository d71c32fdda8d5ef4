"""Uploads the variants corpus (variants_corpus.py) to a running modelhub and prints what each upload
costs on disk: chunk store (bytes under DATA/blobs/xorbs) vs file-level dedup (what plain LFS servers
store: the sizes of distinct sha256 objects) vs no dedup (every uploaded version kept).

usage: variants.py DATA_DIR MIB [--data random|normal] [--no-finetune]
Environment: HF_ENDPOINT, HF_TOKEN, HF_HUB_DISABLE_XET=1 (set by variants.sh). Run by variants.sh.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download

import variants_corpus as vc

MB = 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("mib", type=int)
    ap.add_argument("--data", default="random", choices=["random", "normal"])
    ap.add_argument("--no-finetune", action="store_true")
    ap.add_argument("--verify", action="store_true", help="download every version and compare sha256")
    a = ap.parse_args()

    api = HfApi(endpoint=os.environ["HF_ENDPOINT"], token=os.environ["HF_TOKEN"])
    user = api.whoami()["name"]
    main_repo, copy_repo = f"{user}/variants-{a.data}", f"{user}/variants-{a.data}-copy"
    api.create_repo(main_repo, exist_ok=True)
    api.create_repo(copy_repo, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="variants-", dir=os.environ.get("BENCH_WORK")))

    rows = []
    distinct: dict[str, int] = {}
    no_dedup = 0
    uploaded = []
    for v in vc.corpus(a.mib, data=a.data, with_finetune=not a.no_finetune):
        ops, size, sha = [], 0, None
        t0 = time.perf_counter()
        if v.model is not None:
            fi = vc.write_model(v.model, work / "model.safetensors")
            ops.append(CommitOperationAdd("model.safetensors", str(fi.path)))
            size, sha = fi.size, fi.sha256
        if v.config is not None:
            ops.append(CommitOperationAdd("config.json", v.config))
        gen_s = time.perf_counter() - t0
        before = vc.stored_bytes(a.data_dir)
        t1 = time.perf_counter()
        ci = api.create_commit(copy_repo if v.name == "copy" else main_repo, ops, commit_message=v.what)
        up_s = time.perf_counter() - t1
        after = vc.stored_bytes(a.data_dir)
        if sha is not None:
            no_dedup += size
            distinct[sha] = size
            uploaded.append((copy_repo if v.name == "copy" else main_repo, ci.oid, sha))
        (work / "model.safetensors").unlink(missing_ok=True)
        rows.append((v, size, no_dedup, sum(distinct.values()), after, after - before, up_s))
        print(f"[variants] {v.key} {v.name}: generated in {gen_s:.1f} s, uploaded in {up_s:.1f} s, "
              f"stored +{(after - before) / MB:.1f} MB", file=sys.stderr, flush=True)

    print(f"variants corpus, base {a.mib} MiB, {a.data} BF16 data; cumulative MB (10^6 B) after each upload")
    print(f"  {'step':<4} {'variant':<52} {'file':>8} {'no dedup':>9} {'file-level':>10} {'chunk store':>11} "
          f"{'+stored':>8} {'upload s':>8}")
    for v, size, nd, fl, cs, delta, up_s in rows:
        print(f"  {v.key:<4} {v.name + ': ' + v.what:<52} {size / MB:>8.1f} {nd / MB:>9.1f} {fl / MB:>10.1f} "
              f"{cs / MB:>11.1f} {delta / MB:>8.1f} {up_s:>8.1f}")
    _, _, nd, fl, cs, _, _ = rows[-1]
    print(f"  stored: chunk store {cs / MB:.1f} MB = {cs / nd:.3f} of no dedup ({100 * (1 - cs / nd):.1f}% saved), "
          f"{cs / fl:.3f} of file-level dedup ({100 * (1 - cs / fl):.1f}% saved); file-level dedup saves "
          f"{100 * (1 - fl / nd):.1f}% of no dedup")
    if a.verify:
        for repo, rev, sha in uploaded:
            p = hf_hub_download(repo, "model.safetensors", revision=rev, cache_dir=work / "dl")
            got = vc.hashlib.sha256()
            with open(p, "rb") as f:
                while b := f.read(8 << 20):
                    got.update(b)
            if got.hexdigest() != sha:
                print(f"{repo}@{rev}: wrong bytes downloaded", file=sys.stderr)
                return 1
            for q in (work / "dl").glob("**/blobs/*"):
                q.unlink()
        print(f"  verified: every version downloads byte-identical ({len(uploaded)} files)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

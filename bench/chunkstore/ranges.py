"""N random Range GETs of LEN bytes of one file (keep-alive session), each checked against the local copy.

usage: ranges.py URL LOCAL_FILE N LEN [SEED]
Prints one line: "ranges=N bytes=B seconds=S p50_ms=.. p99_ms=..". Exits 1 on any wrong answer.
Environment: HF_TOKEN (sent as a bearer token when set).
"""

import os
import random
import sys
import time

import requests


def main() -> int:
    url, local, n, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rnd = random.Random(int(sys.argv[5]) if len(sys.argv) > 5 else 12345)
    size = os.path.getsize(local)
    s = requests.Session()
    if os.environ.get("HF_TOKEN"):
        s.headers["authorization"] = f"Bearer {os.environ['HF_TOKEN']}"
    lat, total = [], 0
    t0 = time.perf_counter()
    with open(local, "rb") as f:
        for _ in range(n):
            off = rnd.randrange(0, size - length + 1)
            t = time.perf_counter()
            r = s.get(url, headers={"Range": f"bytes={off}-{off + length - 1}"}, timeout=60)
            lat.append(time.perf_counter() - t)
            f.seek(off)
            if r.status_code != 206 or r.content != f.read(length):
                print(f"range {off}+{length}: HTTP {r.status_code}, {len(r.content)} bytes, wrong or short",
                      file=sys.stderr)
                return 1
            total += len(r.content)
    secs = time.perf_counter() - t0
    lat.sort()
    print(f"ranges={n} bytes={total} seconds={secs:.3f} p50_ms={1000 * lat[len(lat) // 2]:.2f} "
          f"p99_ms={1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

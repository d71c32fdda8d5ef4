"""Operations: health, Prometheus metrics, graceful shutdown, robustness against garbage on the socket."""

from __future__ import annotations

import re
import signal
import socket
import time

import requests

from _hub import start_hub
from _util import describe

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)')


def parse_metrics(text: str) -> tuple[dict[str, str], list[tuple[str, str, float]]]:
    """Returns ({family: type}, [(sample name, labels, value)])."""
    types, samples = {}, []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind.strip()
        elif line and not line.startswith("#"):
            m = SAMPLE.match(line)
            assert m, f"not a Prometheus sample line: {line!r}"
            samples.append((m.group(1), m.group(2) or "", float(m.group(3))))
    return types, samples


def counter_totals(text: str) -> dict[str, float]:
    types, samples = parse_metrics(text)
    totals: dict[str, float] = {}
    for fam, kind in types.items():
        if kind != "counter":
            continue
        names = {fam, fam + "_total"}
        totals[fam] = sum(v for n, _, v in samples if n in names)
    return totals


def test_health(hub):
    r = requests.get(f"{hub.endpoint}/health", timeout=10)
    assert r.status_code == 200, describe(r)
    assert r.headers.get("content-type", "").startswith("application/json"), describe(r)
    assert r.json().get("status") == "ok"


def test_metrics_request_counters_and_latency_histogram(hub):
    r0 = requests.get(f"{hub.endpoint}/metrics", headers=hub.auth("alice"), timeout=10)
    assert r0.status_code == 200, describe(r0)
    assert r0.headers.get("content-type", "").startswith("text/plain"), describe(r0)
    before = counter_totals(r0.text)

    n = 25
    for _ in range(n):
        requests.get(f"{hub.endpoint}/health", timeout=10)
    requests.get(f"{hub.endpoint}/api/models/alice/metrics-missing", timeout=10)

    r1 = requests.get(f"{hub.endpoint}/metrics", headers=hub.auth("alice"), timeout=10)
    types, samples = parse_metrics(r1.text)
    after = counter_totals(r1.text)
    grew = {k: after[k] - before.get(k, 0.0) for k in after if after[k] - before.get(k, 0.0) >= n}
    assert grew, f"no counter grew by >= {n} after {n} requests; counters: {after}"

    histograms = [fam for fam, kind in types.items() if kind == "histogram"]
    assert histograms, f"no histogram in /metrics: types={types}"
    ok = False
    for fam in histograms:
        buckets = [(labels, v) for name, labels, v in samples if name == fam + "_bucket"]
        counts = [v for name, _, v in samples if name == fam + "_count"]
        sums = [v for name, _, v in samples if name == fam + "_sum"]
        inf = [v for labels, v in buckets if 'le="+Inf"' in labels]
        if buckets and counts and sums and inf and sum(inf) == sum(counts) and sum(counts) >= n:
            ok = True
    assert ok, f"no latency histogram with le buckets, +Inf == _count >= {n}: {histograms}\n{r1.text[:3000]}"


def test_garbage_on_the_socket_does_not_hurt(hub):
    payloads = [b"\x00\x01\x02garbage\r\n\r\n", b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n",
                b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
                b"POST /api/repos/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                b"GET /health HTTP/1.1\r\n" + b"X-Long: " + b"b" * 200_000 + b"\r\n\r\n"]
    for p in payloads:
        with socket.create_connection(("127.0.0.1", hub.port), timeout=10) as s:
            try:
                s.sendall(p)
                s.shutdown(socket.SHUT_WR)
                s.recv(65536)
            except OSError:
                pass  # the server may close on us; that's fine
    r = requests.get(f"{hub.endpoint}/health", timeout=10)
    assert r.status_code == 200, describe(r)
    assert hub.proc.poll() is None, "server died"


def test_sigterm_stops_gracefully(tmp_path):
    other = start_hub(tmp_path / "sigterm")
    try:
        assert requests.get(f"{other.endpoint}/health", timeout=10).status_code == 200
        t0 = time.monotonic()
        other.proc.send_signal(signal.SIGTERM)
        rc = other.proc.wait(timeout=15)
        assert rc == 0, f"exit code {rc} after SIGTERM\n{other.log_tail()}"
        assert time.monotonic() - t0 < 10
    finally:
        other.stop()


def test_data_survives_kill_and_restart(tmp_path):
    """What a 2xx acknowledged is still there after SIGKILL and a restart on the same data folder."""
    import os

    from huggingface_hub import CommitOperationAdd, HfApi

    first = start_hub(tmp_path / "restart")
    try:
        first.create_user("alice")
        token = first.create_token("alice", "write", "restart")
        api = HfApi(endpoint=first.endpoint, token=token)
        api.create_repo("alice/durable", private=True)
        lfs = os.urandom(200_000)
        c = api.create_commit("alice/durable", [CommitOperationAdd("a.txt", b"acknowledged\n"),
                                                CommitOperationAdd("w.bin", lfs)], commit_message="durable")
        api.create_tag("alice/durable", tag="v1")
    finally:
        first.proc.kill()  # no graceful shutdown
        first.proc.wait(timeout=10)

    second = start_hub(tmp_path / "restart", port=first.port)
    try:
        api = HfApi(endpoint=second.endpoint, token=token)
        info = api.model_info("alice/durable")
        assert info.sha == c.oid and info.private is True
        assert {t.name for t in api.list_repo_refs("alice/durable").tags} == {"v1"}
        for path, data in (("a.txt", b"acknowledged\n"), ("w.bin", lfs)):
            r = requests.get(f"{second.endpoint}/alice/durable/resolve/v1/{path}",
                             headers={"authorization": f"Bearer {token}"}, timeout=30)
            assert r.status_code == 200 and r.content == data, describe(r)
    finally:
        second.stop()

"""Black-box test harness: starts the real modelhub binary and drives it with the real clients.

One server per pytest session, on a free 127.0.0.1 port, with a fresh data folder. The client
environment (HF_ENDPOINT and friends) is set here at import time, before any test module imports
huggingface_hub, because huggingface_hub reads HF_ENDPOINT when it is imported.

Fixtures:
  hub    the running server: endpoint, data dir, users' tokens, admin() helper, repo_id() helper
  api    HfApi for alice (write token), bob_api for bob, anon_api without a token

Environment knobs:
  MODELHUB_BIN          path of the modelhub binary (default: build/bin/modelhub)
  MODELHUB_E2E_LARGE_MB size of the largest upload in test_files.py (default 500)
  MODELHUB_E2E_KEEP=1   keep the temp folder (data dir, server log, caches) after the run
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

import _hub
from _hub import Hub, User, free_port, start_hub


# ---- client environment, fixed before huggingface_hub is imported anywhere --------------------------
PORT = free_port()
ENDPOINT = f"http://127.0.0.1:{PORT}"
_TMP_ROOT = Path(tempfile.mkdtemp(prefix="modelhub-e2e-"))
HF_HOME = _TMP_ROOT / "hf_home"

CLIENT_ENV = {
    "HF_ENDPOINT": ENDPOINT,
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_EXPERIMENTAL_WARNING": "1",
    "HF_HOME": str(HF_HOME),
    "HF_HUB_CACHE": str(HF_HOME / "hub"),
    "HF_DATASETS_CACHE": str(HF_HOME / "datasets"),
    "HF_UPDATE_DOWNLOAD_COUNTS": "0",
    "HF_HUB_ETAG_TIMEOUT": "60",
    "HF_HUB_DOWNLOAD_TIMEOUT": "120",
    "HF_HUB_OFFLINE": "0",
    "HF_DATASETS_OFFLINE": "0",
    "TRANSFORMERS_OFFLINE": "0",
    "TOKENIZERS_PARALLELISM": "false",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
os.environ.update(CLIENT_ENV)
# Never let a developer's own credentials or proxies leak into the tests.
for _var in ("HF_HUB_DISABLE_XET", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HTTP_PROXY", "HTTPS_PROXY",
             "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def hub():
    tmp = _TMP_ROOT / "server"
    try:
        h = start_hub(tmp, PORT)
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    _HUB_FOR_REPORTS.append(h)
    try:
        h.create_user("alice", admin=True)
        h.users["alice"] = User("alice", h.create_token("alice", "write", "alice-write"))
        h.create_user("bob")
        h.users["bob"] = User("bob", h.create_token("bob", "write", "bob-write"))
        h.admin("org", "create", h.org, "--owner", "alice")
    except Exception as e:
        h.stop()
        pytest.fail(f"setting up users/tokens/org with the admin CLI failed: {e}\n--- server log ---\n"
                    f"{h.log_tail()}", pytrace=False)
    yield h
    _HUB_FOR_REPORTS.remove(h)
    h.stop()


@pytest.fixture(scope="session")
def endpoint(hub) -> str:
    return hub.endpoint


@pytest.fixture(scope="session")
def api(hub):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.endpoint, token=hub.token("alice"))


@pytest.fixture(scope="session")
def bob_api(hub):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.endpoint, token=hub.token("bob"))


@pytest.fixture(scope="session")
def anon_api(hub):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.endpoint, token=False)


@pytest.fixture(params=["xet", "lfs"])
def transfer(request, monkeypatch) -> str:
    """Runs a test twice: huggingface_hub with hf_xet (the default: Xet CAS uploads and downloads), and
    with Xet switched off (LFS batch uploads, plain resolve downloads)."""
    if request.param == "lfs":
        from huggingface_hub import constants

        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    return request.param


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """A private HF cache for one test, so downloads really hit the server."""
    cache = tmp_path / "hf_cache"
    cache.mkdir()
    return cache


def pytest_report_header(config):
    return f"modelhub backends: {_hub.BACKEND} (MODELHUB_E2E_BACKEND)"


def pytest_sessionfinish(session, exitstatus):
    _hub.stop_backends()
    if os.environ.get("MODELHUB_E2E_KEEP"):
        print(f"\nmodelhub e2e: kept {_TMP_ROOT} (server log: {_TMP_ROOT / 'server' / 'server.log'})")
        return
    shutil.rmtree(_TMP_ROOT, ignore_errors=True)


# ---- attach the server log lines written during a failed test to its report ------------------------
_HUB_FOR_REPORTS: list[Hub] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    offsets = [(h, h.log_path.stat().st_size if h.log_path.exists() else 0) for h in _HUB_FOR_REPORTS]
    item._modelhub_log_offsets = offsets
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for h, off in getattr(item, "_modelhub_log_offsets", []):
        try:
            with open(h.log_path, "rb") as f:
                f.seek(off)
                text = f.read().decode(errors="replace")
        except OSError:
            continue
        lines = text.splitlines()
        if len(lines) > 80:
            lines = [f"... ({len(lines) - 80} earlier lines)"] + lines[-80:]
        report.sections.append(("modelhub server log during this test", "\n".join(lines)))

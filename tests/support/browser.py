"""Headless Chromium from Debian, as the browser tests drive it, and the REST answers they
compare its pages with."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from contextlib import contextmanager
from typing import Iterator
from urllib.request import urlopen

from werkzeug.serving import make_server

from modelmon.api import create_app
from modelmon.config import Config


def chromium(*arguments: str, zone: str = "UTC") -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "headless Chromium is needed: `make test` installs Debian's chromium"
    result = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             *arguments], capture_output=True, text=True, timeout=120, env={**os.environ, "TZ": zone})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def api(status_url: str, source: str) -> dict:
    with urlopen(status_url + source, timeout=30) as response:
        return json.load(response)


@contextmanager
def proxy_serving(config: Config) -> Iterator[str]:
    """The proxy and status page over ``config``'s store, served on loopback; yields its URL."""
    server = make_server("127.0.0.1", 0, create_app({"MODELMON": config}), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()

"""Headless Chromium from Debian, as the browser tests drive it, and the REST answers they
compare its pages with."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from urllib.request import urlopen


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

"""A real headless Chromium driven by Selenium: Debian's `chromium` and `chromium-driver`, nothing downloaded.

The driver path is given explicitly, so Selenium Manager (which would fetch a driver from the network) never runs.
The flags keep Chromium off the network (this machine has none but loopback) and let it run as root in a container.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.tools import missing, need

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps", "--no-default-browser-check")


@contextmanager
def chromium(width: int = 1280, height: int = 800) -> Iterator[Any]:
    """A Selenium WebDriver on a fresh profile; quit on exit."""
    paths = need("chromium", "chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium is not installed (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = paths["chromium"]
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    with tempfile.TemporaryDirectory(prefix="agentmail-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(executable_path=paths["chromedriver"]), options=options)
        try:
            driver.set_page_load_timeout(30)
            driver.set_script_timeout(30)
            yield driver
        finally:
            driver.quit()

"""What the browser tests share: the system Chromium, logging in on the live server, waits.

Importing this module skips the importing test module when Chromium, chromedriver or selenium
is missing, so test modules take selenium's names from here. Set ``BROWSER_SCREENSHOTS`` to a
folder to keep screenshots of the pages visited.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip(f"needs {CHROMIUM} and {CHROMEDRIVER}", allow_module_level=True)
pytest.importorskip("selenium")

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

# The test modules take selenium from here, so that they skip (above) rather than fail to import.
__all__ = [
    "BROWSER_TEST", "DESKTOP", "PHONE", "WAIT", "By", "Select", "WebDriverException",
    "WebDriverWait", "ec", "fits_the_phone", "log_in", "log_in_to_admin", "screenshot",
    "start_chrome", "wait_for_text",
]

WAIT = 15
PASSWORD = "pass-12345"  # every factory-made user's
PHONE = (375, 800)
DESKTOP = (1400, 1000)

# Browser test modules: ``pytestmark = BROWSER_TEST``.
BROWSER_TEST = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
                pytest.mark.usefixtures("fast_passwords")]


def start_chrome(*, width: int, height: int, phone: bool = False) -> webdriver.Chrome:
    """Headless Chromium with the background chatter off; ``phone`` emulates a phone's screen."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", f"--window-size={width},{height}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    if phone:
        # Headless Chromium keeps windows at least 500 px wide: emulate the phone's screen.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})
    return driver


def screenshot(driver, name: str) -> None:
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def log_in(driver, live_server, email: str) -> None:
    """A person logs in on the site's own login page and lands on their first page: an
    agent's offers, an ISA's queue."""
    driver.get(live_server.url + "/accounts/login/")
    driver.find_element(By.NAME, "username").send_keys(email)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, WAIT).until(
        lambda d: any(page in d.current_url for page in ("/offers/", "/isa/")))


def log_in_to_admin(driver, live_server, username: str, then: str) -> None:
    """Log in on the admin's login page and land on ``then``."""
    driver.get(f"{live_server.url}/admin/login/?next={then}")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    # The login page's own address holds ``then`` (its ``next``): wait to have left it, and
    # for the page landed on to be whole.
    WebDriverWait(driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
        lambda d: "/login/" not in d.current_url and then in d.current_url
        and d.execute_script("return document.readyState") == "complete")


def wait_for_text(driver, text: str) -> None:
    """Wait for the text on the page; reads during a navigation just try again."""
    WebDriverWait(driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
        lambda d: text in d.execute_script("return document.body ? document.body.innerText : ''"))


def fits_the_phone(driver) -> bool:
    """Nothing sticks out sideways."""
    return driver.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth")

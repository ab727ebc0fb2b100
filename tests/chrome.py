"""Headless Chromium for the web admin's browser tests (Debian chromium + chromedriver, driven by selenium)."""
import os
import shutil

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from web_fixtures import USERS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,900",
         "--autoplay-policy=no-user-gesture-required", "--mute-audio"]


def start_chrome(extra=()):
    """A headless Chromium driver (plus `extra` flags); the test fails (not skips) when Chromium or its driver
    is missing."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("apt-get install -y chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for f in [*FLAGS, *extra]:
        opts.add_argument(f)
    return webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))


def login_form(b, base, user, password=None, expect_ok=True):
    """Log in through the form; with expect_ok, wait until the app has redirected away from /login
    (navigating elsewhere before the POST's answer lands would lose the session cookie). The page before is
    left first, so none of its scripts' requests is still in flight when the cookies are cleared."""
    b.get("about:blank")
    b.execute_cdp_cmd("Network.clearBrowserCookies", {})      # every cookie (about:blank has no site of its own)
    b.get(base + "/login")
    b.find_element(By.ID, "username").send_keys(user)
    b.find_element(By.ID, "password").send_keys(password or USERS[user])
    b.find_element(By.ID, "login").click()
    if expect_ok:
        WebDriverWait(b, 15).until(lambda d: "/login" not in d.current_url)

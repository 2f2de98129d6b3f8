"""The web view in a real headless Chromium against a real `agentmail serve` (one browser for the whole module).

The person signs in through the one-time link, sees the demo conversation as threads, watches a postcard sent with
the CLI appear without a reload, writes to an agent, sends a receipt, and sees a hostile title as plain text; the
same view on a phone-sized window. Screenshots go to a directory under pytest's tmp path, printed at the start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import wait
from tests.support.browser import chromium
from tests.support.store import Store
from tests.web.conftest import cli, login_url

HOSTILE_TITLE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("web-screenshots")
    print(f"\nscreenshots of the web view: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser(store: Store, web_port: int) -> Iterator[Any]:
    with chromium() as driver:
        url = login_url(store)
        assert url is not None
        driver.get(url)
        wait.until(lambda: driver.execute_script("return document.body.dataset.ready === '1'"), "the view is ready")
        yield driver


def texts(driver: Any, css: str) -> list[str]:
    return [str(t) for t in driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.textContent)", css)]


def click(driver: Any, css: str) -> None:
    driver.execute_script("document.querySelector(arguments[0]).click()", css)


def go(driver: Any, route: str) -> None:
    driver.execute_script("location.hash = arguments[0]", route)


def test_sign_in_shows_the_demo_conversation_as_threads(browser: Any, web_port: int, shots: Path) -> None:
    assert browser.current_url == f"http://127.0.0.1:{web_port}/"  # the token is gone from the address bar
    titles = wait.until(lambda: texts(browser, "#list li.thread .title"), "threads listed")
    assert any(t.startswith("Need avatar_url in GET /api/users") for t in titles), titles
    assert any(t.startswith("Column for user avatars?") and "urgent" in t for t in titles), titles
    agents = texts(browser, "#agents .agent-name")
    assert {"frontend", "backend", "database", "alice"} <= set(agents) and "human" not in agents
    browser.save_screenshot(str(shots / "1-conversations.png"))
    key = browser.execute_script(
        "return Array.from(document.querySelectorAll('#list li.thread')).find("
        "li => li.textContent.includes('Column for user avatars?')).dataset.key")
    go(browser, f"#/thread/{key}")
    cards = wait.until(lambda: texts(browser, "#detail .card") if len(texts(browser, "#detail .card")) >= 2 else None,
                       "the conversation shown")
    assert cards[0].startswith("backend \u2192 database") and "Read by database" in cards[0]
    assert "0042_users_avatar_url" in cards[1]
    browser.save_screenshot(str(shots / "2-thread.png"))


def test_a_postcard_sent_with_the_cli_appears_without_a_reload(browser: Any, store: Store) -> None:
    go(browser, "#/threads")
    browser.execute_script("window.__sameDocument = 42")
    wait.until(lambda: texts(browser, "#live") == ["live"], "the live stream is open")
    sent = cli(store, "--as", "frontend", "send", "backend", "Live from the CLI", "appears by itself")
    assert sent.returncode == 0, sent.stderr
    wait.until(lambda: any("Live from the CLI" in t for t in texts(browser, "#list li.thread")), "the new thread")
    assert browser.execute_script("return window.__sameDocument") == 42  # no reload happened


def test_compose_to_an_agent_lands_in_its_maildir(browser: Any, store: Store, shots: Path) -> None:
    click(browser, "#compose-open")
    browser.find_element("id", "c-to").send_keys("database")
    browser.find_element("id", "c-title").send_keys("Written in the browser")
    browser.find_element("id", "c-body").send_keys("Please keep the migration.\nThanks!")
    browser.find_element("id", "c-urgent").click()
    browser.save_screenshot(str(shots / "3-compose.png"))
    browser.find_element("id", "c-send").click()
    wait.until(lambda: "Sent" in (texts(browser, "#toast") or [""])[0], "the sent note")
    data = wait.until(lambda: store.find("database", "Written in the browser"), "the postcard in database's Maildir")
    raw = data[0].read_bytes()
    assert b"From: human@agents.localhost" in raw and b"Importance: high" in raw
    assert b"Please keep the migration.\nThanks!" in raw


def test_the_person_sends_a_receipt_from_the_view(browser: Any, store: Store, shots: Path) -> None:
    assert cli(store, "--as", "backend", "send", "human", "Need your OK", "May I deploy?").returncode == 0
    go(browser, "#/box/human/INBOX")
    key = wait.until(lambda: browser.execute_script(
        "const li = Array.from(document.querySelectorAll('#list li.item')).find("
        "li => li.textContent.includes('Need your OK')); return li && li.dataset.key"), "the postcard in my inbox")
    assert texts(browser, "#list-head h2") == ["My mailbox"] and "null" not in texts(browser, "#list-head")[0]
    go(browser, f"#/box/human/INBOX/{key}")
    wait.until(lambda: browser.execute_script("return !!document.getElementById('send-receipt')"), "the offer")
    browser.save_screenshot(str(shots / "4-receipt-offer.png"))
    click(browser, "#send-receipt")
    wait.until(lambda: texts(browser, "#receipt-offer") == ["Receipt sent."], "the receipt sent")
    mdn = wait.until(lambda: store.find("backend", f"<{key}@", "Receipts"), "the MDN in backend's .Receipts")
    assert b"Final-Recipient: rfc822;human@agents.localhost" in mdn[0].read_bytes()
    # opening it marked it read: the person's own mail (agents' mail is never marked from here)
    wait.until(lambda: "S" in store.find("human", f"<{key}@")[0].name.rsplit(":2,", 1)[-1], "the postcard seen")


def test_a_hostile_title_is_shown_as_text(browser: Any, store: Store, shots: Path) -> None:
    assert cli(store, "--as", "alice", "send", "human", HOSTILE_TITLE, "<b>not bold</b>").returncode == 0
    go(browser, "#/threads")
    wait.until(lambda: any(t.startswith(HOSTILE_TITLE) for t in texts(browser, "#list li.thread .title")),
               "the hostile title listed")
    key = browser.execute_script(
        "return Array.from(document.querySelectorAll('#list li.thread')).find("
        "li => li.textContent.includes('onerror')).dataset.key")
    go(browser, f"#/thread/{key}")
    wait.until(lambda: [t.strip() for t in texts(browser, "#detail .body")] == ["<b>not bold</b>"], "the body as text")
    assert texts(browser, "#detail h2") == [HOSTILE_TITLE]
    assert browser.execute_script("return document.querySelectorAll('img, b, #detail script').length") == 0
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - no script ran
    browser.save_screenshot(str(shots / "5-hostile-title.png"))


def test_a_phone_sized_window_shows_one_pane_at_a_time(browser: Any, shots: Path) -> None:
    browser.set_window_size(390, 844)
    try:
        go(browser, "#/threads")
        visible = "return getComputedStyle(document.getElementById(arguments[0])).display !== 'none'"
        wait.until(lambda: browser.execute_script(visible, "list-pane"), "the list on a phone")
        assert not browser.execute_script(visible, "side") and not browser.execute_script(visible, "detail-pane")
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390, "no sideways scrolling"
        browser.save_screenshot(str(shots / "6-phone-list.png"))
        click(browser, "#list li.thread a")
        wait.until(lambda: browser.execute_script(visible, "detail-pane"), "the conversation on a phone")
        assert not browser.execute_script(visible, "list-pane")
        browser.save_screenshot(str(shots / "7-phone-thread.png"))
        click(browser, "#back")
        wait.until(lambda: browser.execute_script(visible, "list-pane"), "back to the list")
        click(browser, "#menu")
        wait.until(lambda: browser.execute_script(visible, "side"), "the agents on a phone")
        browser.save_screenshot(str(shots / "8-phone-agents.png"))
    finally:
        browser.set_window_size(1280, 800)

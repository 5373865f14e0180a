"""A manager tries an e-mail parsing rule on a pasted message, on a desktop and on a phone.

Set ``BROWSER_SCREENSHOTS`` to a folder to keep screenshots of the pages visited.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from leads.models import EmailParsingRule, LeadSource
from tests.browser import (
    BROWSER_TEST,
    PHONE,
    WAIT,
    By,
    WebDriverWait,
    ec,
    fits_the_phone,
    log_in_to_admin,
    screenshot,
    start_chrome,
    wait_for_text,
)
from tests.test_email_rules import HOMES_PATTERNS
from tests.test_rule_admin import manager_user

pytestmark = BROWSER_TEST
HOMES = (Path(__file__).parent / "fixtures" / "email" / "homes_like.eml").read_text()


@pytest.fixture
def rule():
    return EmailParsingRule.objects.create(
        name="Homes.com", source=LeadSource.objects.create(name="Homes.com"),
        subject_contains="shopper is interested", lead_type="buyer", tags="homes.com",
        **{f"{name}_pattern": value for name, value in HOMES_PATTERNS.items()})


def try_on_the_pasted_message(chrome, live_server, rule, name: str) -> None:
    manager_user()
    log_in_to_admin(chrome, live_server, "manager@example.com",
                    f"/admin/leads/emailparsingrule/{rule.pk}/change/")
    screenshot(chrome, f"{name}-rule")
    link = chrome.find_element(By.ID, "try-rule-link")
    assert link.size["height"] >= 44
    link.click()
    WebDriverWait(chrome, WAIT).until(ec.url_contains("/try/"))
    box = chrome.find_element(By.NAME, "message")
    chrome.execute_script("arguments[0].value = arguments[1];", box, HOMES)
    chrome.find_element(By.CSS_SELECTOR, "input[type=submit][value='Try it']").click()
    wait_for_text(chrome, "This rule would read this message.")
    fields = chrome.find_element(By.ID, "try-fields").text
    assert "luis.navarro@example.org" in fields and "Luis" in fields and "9921-AB" in fields
    screenshot(chrome, f"{name}-try")
    button = chrome.find_element(By.CSS_SELECTOR, "input[type=submit][value='Try it']")
    chrome.execute_script("arguments[0].scrollIntoView();", button)
    screenshot(chrome, f"{name}-try-form")
    assert button.size["height"] >= 44


def test_a_manager_tries_a_rule_on_a_desktop(driver, live_server, rule):
    try_on_the_pasted_message(driver, live_server, rule, "email-rule-desktop")


def test_a_manager_tries_a_rule_on_a_phone(live_server, rule):
    chrome = start_chrome(width=PHONE[0], height=PHONE[1], phone=True)
    try:
        try_on_the_pasted_message(chrome, live_server, rule, "email-rule-phone")
        assert fits_the_phone(chrome)
    finally:
        chrome.quit()

"""Preview changes in a real browser (the system Chromium), on a desktop and on a phone.

A manager edits a rule, presses Preview changes, and sees the table and the chart drawn,
with nothing saved; the same for an uploaded routing file. Set ``BROWSER_SCREENSHOTS`` to a
folder to keep screenshots of the pages visited.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from routing.models import Rule
from tests.browser import (
    BROWSER_TEST,
    DESKTOP,
    PHONE,
    WAIT,
    By,
    Select,
    WebDriverWait,
    ec,
    log_in_to_admin,
    screenshot,
    start_chrome,
)
from tests.test_backtest import office, proposal, zillow_to_the_team  # noqa: F401
from tests.test_rule_admin import manager_user

pytestmark = [*BROWSER_TEST, pytest.mark.usefixtures("office")]

SCREENS = {"desktop": (DESKTOP, False), "phone": (PHONE, True)}


@pytest.fixture(params=list(SCREENS))
def screen(request):
    (width, height), phone = SCREENS[request.param]
    driver = start_chrome(width=width, height=height, phone=phone)
    yield request.param, driver
    driver.quit()


def chart_is_drawn(driver) -> bool:
    return driver.execute_script(
        "const c = document.getElementById('backtest-chart');"
        "return !!(c && c.dataset.drawn === 'true' && window.Chart && Chart.getChart(c)"
        " && c.width > 0 && c.height > 0);")


def preview_fits(driver) -> bool:
    """The preview's own content stays inside the screen (its tables scroll if they must)."""
    return driver.execute_script(
        "const s = document.getElementById('backtest'); const r = s.getBoundingClientRect();"
        "return r.left >= 0 && r.right <= window.innerWidth + 1;")


def press_preview(driver) -> None:
    button = driver.find_element(By.CSS_SELECTOR, "button[name=_preview]")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    WebDriverWait(driver, WAIT).until(ec.presence_of_element_located((By.ID, "backtest")))


def test_manager_previews_an_edited_rule(live_server, screen):
    name, driver = screen
    manager_user()
    rule = Rule.objects.get(name="Zillow buyers")
    change = f"/admin/routing/rule/{rule.pk}/change/"
    log_in_to_admin(driver, live_server, "manager@example.com", change)

    Select(driver.find_element(By.ID, "id_roster")).select_by_visible_text("Zillow team")
    Select(driver.find_element(By.ID, "id_backtest_days")).select_by_value("30")
    driver.execute_script("document.querySelector('.backtest-row').scrollIntoView("
                          "{block: 'center'})")
    screenshot(driver, f"rule-form-button-{name}")
    press_preview(driver)

    summary = driver.find_element(By.ID, "backtest-summary").text
    assert "4 of 6 leads would go to someone else" in summary
    table = driver.find_element(By.ID, "backtest-agents").text
    assert "Cara" in table and "+2" in table
    WebDriverWait(driver, WAIT).until(chart_is_drawn)
    assert preview_fits(driver)
    # The form is still the edited one, and nothing was saved.
    assert Select(driver.find_element(By.ID, "id_roster")).first_selected_option.text == (
        "Zillow team")
    assert Rule.objects.get(pk=rule.pk).roster.name == "Office"
    driver.execute_script("document.getElementById('backtest').scrollIntoView()")
    screenshot(driver, f"rule-preview-{name}")
    driver.execute_script("document.getElementById('backtest-agents').scrollIntoView()")
    screenshot(driver, f"rule-preview-table-{name}")


def test_manager_previews_an_uploaded_file(live_server, screen, tmp_path: Path):
    name, driver = screen
    manager_user()
    file = tmp_path / "proposal.yaml"
    file.write_text(proposal(zillow_to_the_team), encoding="utf-8")
    log_in_to_admin(driver, live_server, "manager@example.com", "/admin/routing/rule/import/")
    screenshot(driver, f"import-{name}")

    driver.find_element(By.ID, "id_file").send_keys(str(file))
    press_preview(driver)

    assert "with this file" in driver.find_element(By.ID, "backtest-title").text
    WebDriverWait(driver, WAIT).until(chart_is_drawn)
    assert preview_fits(driver)
    assert driver.find_element(By.ID, "apply-file").size["height"] >= 44
    screenshot(driver, f"import-preview-{name}")
    assert Rule.objects.get(name="Zillow buyers").roster.name == "Office"

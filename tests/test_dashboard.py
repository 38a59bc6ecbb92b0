"""/__admin/ui and /docs in a real headless Chromium (Debian's chromium, driven through chromium-driver): a job a
test submits appears live and is advanced and failed from the page; the journal, wallets, rules and clock
work from it; the admin token rule holds; screenshots are not blank."""

import io
import os
import shutil

import httpx
import pytest
from PIL import Image

from contract_tests.process import running_mock

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium and chromium-driver (the README's test command installs them)")
    pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)

from selenium import webdriver  # noqa: E402 (only with a browser to drive)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

KEY = {"Ocp-Apim-Subscription-Key": "ui-key"}
SUBMIT = "/flux-dev/v1/dev/textToImage"
WAIT = 15


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1000", "--proxy-server=direct://", "--proxy-bypass-list=*"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()  # stops chromium and the driver, by their PIDs


@pytest.fixture(scope="module")
def manual_mock():
    with running_mock("--timing", "manual") as url:
        yield url


def _wait(driver, condition, what: str):
    return WebDriverWait(driver, WAIT).until(lambda d: condition(d), message=f"the page never showed {what}")


def _row(driver, table: str, row_id: str):
    found = driver.find_elements(By.CSS_SELECTOR, f'#{table} tr[data-id="{row_id}"]')
    return found[0] if found else None


def _click(driver, table: str, row_id: str, action: str) -> None:
    """Click a row's button in one step in the page (a row may be redrawn between a lookup and a click)."""
    assert driver.execute_script(
        "const b = document.querySelector(arguments[0]); if (b) b.click(); return Boolean(b);",
        f'#{table} tr[data-id="{row_id}"] button[data-action="{action}"]'), f"no {action} button for {row_id}"


def _status_shown(driver, request_id: str) -> str | None:
    return driver.execute_script("const row = document.querySelector(arguments[0]); "
                                 "return row ? row.children[2].textContent : null;",
                                 f'#jobs tr[data-id="{request_id}"]')


def _assert_not_blank(png: bytes) -> None:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size[0] >= 800 and image.size[1] >= 600
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is None or len(colours) > 50, "the screenshot is (nearly) one colour"
    dominant = max(colours)[0] / (image.size[0] * image.size[1]) if colours else 0
    assert dominant < 0.95, "the screenshot is almost all one colour"


def test_a_submitted_job_appears_live_and_is_advanced_and_failed_from_the_page(browser, manual_mock):
    with httpx.Client(base_url=manual_mock, timeout=10) as api:
        api.post("/__admin/reset").raise_for_status()
        browser.get(f"{manual_mock}/__admin/ui")
        first = api.post(SUBMIT, json={"prompt": "a red fox"}, headers=KEY).json()["request_id"]
        _wait(browser, lambda d: _status_shown(d, first) == "QUEUED", "the submitted job")  # no reload: live
        _click(browser, "jobs", first, "advance")
        _wait(browser, lambda d: _status_shown(d, first) == "PROCESSING", "the advanced job")
        assert api.get(f"/__admin/jobs/{first}").json()["status"] == "PROCESSING"
        _click(browser, "jobs", first, "fail")
        _wait(browser, lambda d: _status_shown(d, first) == "FAILED", "the failed job")
        failed = api.get(f"/v2/requests/status/{first}", headers=KEY).json()
        assert failed["status"] == "FAILED" and failed["error"] == "Failed from the flux-mock dashboard"
        second = api.post(SUBMIT, json={"prompt": "a blue fox"}, headers=KEY).json()["request_id"]
        _wait(browser, lambda d: _status_shown(d, second) == "QUEUED", "the second job")
        _click(browser, "jobs", second, "finish")
        _wait(browser, lambda d: _status_shown(d, second) == "COMPLETED", "the finished job")
        _assert_not_blank(browser.get_screenshot_as_png())


def test_the_journal_shows_violations_and_findings_and_filters_them(browser, manual_mock):
    with httpx.Client(base_url=manual_mock, timeout=10) as api:
        api.post("/__admin/reset").raise_for_status()
        api.post(SUBMIT, json={"prompt": "x", "image_size": "huge"}, headers=KEY)
        api.get("/v2/requests/status/never-issued", headers=KEY)
        browser.get(f"{manual_mock}/__admin/ui")
        journal = lambda d: d.find_element(By.ID, "journal").text  # noqa: E731
        _wait(browser, lambda d: 'image_size: "huge" is not one of' in journal(d), "the violation")
        _wait(browser, lambda d: "unknown-id: polled a request id this key never received" in journal(d),
              "the finding")
        browser.find_element(By.ID, "filter-operation").send_keys("getRequestStatus")
        _wait(browser, lambda d: "huge" not in journal(d) and "unknown-id" in journal(d), "the filtered journal")
        browser.find_element(By.ID, "filter-key").send_keys("someone-else")
        _wait(browser, lambda d: "unknown-id" not in journal(d), "the journal filtered by key")
        assert "favicon" not in journal(browser)  # the page asks for nothing the journal would show


def test_webhook_deliveries_show_with_their_attempts(browser, mock_url, receiver):
    with httpx.Client(base_url=mock_url, timeout=10) as api:
        api.post("/__admin/reset").raise_for_status()
        api.put("/__admin/timing", json={"queued_for": 0, "processing_for": 0}).raise_for_status()  # no 3 s job
        receiver.fail_next = 1  # the first attempt fails: the page shows it, then the retry
        api.post(SUBMIT, json={"prompt": "x"}, headers={**KEY, "X-Webhook-URL": f"{receiver.url}/ui-hook"})
        browser.get(f"{mock_url}/__admin/ui")
        deliveries = lambda d: d.find_element(By.ID, "webhooks").text  # noqa: E731
        _wait(browser, lambda d: "/ui-hook" in deliveries(d) and "delivered" in deliveries(d), "the delivery")
        (delivery,) = api.get("/__admin/webhooks").json()["deliveries"]
        assert delivery["attempts"] >= 2 and delivery["id"] in deliveries(browser)


def test_wallets_rules_and_the_clock_are_changed_from_the_page(browser, manual_mock):
    with httpx.Client(base_url=manual_mock, timeout=10) as api:
        api.post("/__admin/reset").raise_for_status()
        before = api.get("/__admin/clock").json()["epoch_seconds"]
        browser.get(f"{manual_mock}/__admin/ui")
        browser.find_element(By.ID, "wallet-key").send_keys("ui-wallet")
        browser.find_element(By.ID, "wallet-balance").send_keys("12.5")
        browser.find_element(By.CSS_SELECTOR, "#wallet-form button").click()
        _wait(browser, lambda d: _row(d, "wallets", "ui-wallet") is not None, "the edited wallet")
        assert api.get("/__admin/wallets").json()["wallets"]["ui-wallet"] == 12.5
        browser.find_element(By.CSS_SELECTOR, "#rule-form button").click()
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '#rules button[data-action="remove"]'), "the rule")
        (rule,) = api.get("/__admin/rules").json()["rules"]
        assert rule["outcome"] == {"status": 429} and rule["remaining"] == 1
        _click(browser, "rules", rule["id"], "remove")
        _wait(browser, lambda d: _row(d, "rules", rule["id"]) is None, "the rule removed")
        assert api.get("/__admin/rules").json()["rules"] == []
        browser.find_element(By.CSS_SELECTOR, "#clock-form button").click()
        _wait(browser, lambda d: api.get("/__admin/clock").json()["epoch_seconds"] >= before + 5, "the moved clock")


def test_the_page_keeps_the_admin_token_rule(browser):
    with running_mock("--admin-token", "ui-secret-token") as url:
        browser.get(f"{url}/__admin/ui")
        _wait(browser, lambda d: d.find_element(By.ID, "token-form").is_displayed(), "the token form")
        assert "needs the mock's admin token" in browser.find_element(By.ID, "problem").text
        assert not browser.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")
        browser.get(f"{url}/__admin/ui?token=ui-secret-token")
        _wait(browser, lambda d: d.find_element(By.ID, "health").text.startswith("ok"), "the mock's health")
        assert "token=" not in browser.current_url  # the token is not left in the address bar


def test_the_api_reference_renders_every_operation(browser, mock_url):
    browser.get(f"{mock_url}/docs")
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 15, "the operations")
    page = browser.find_element(By.ID, "swagger-ui").text
    assert "/flux-dev/v1/dev/textToImage" in page and f"{mock_url} - this flux-mock" in page  # "try it" calls it
    _assert_not_blank(browser.get_screenshot_as_png())
    browser.execute_script("const s = document.getElementById('spec'); s.value = '/openapi/admin.yaml'; "
                           "s.dispatchEvent(new Event('change'));")
    _wait(browser, lambda d: "/__admin/client-report" in d.find_element(By.ID, "swagger-ui").text, "the admin spec")


@pytest.mark.anyio
async def test_the_dashboard_is_refused_beyond_loopback_without_a_token():
    from mock_server.app import create_app

    transport = httpx.ASGITransport(app=create_app(), client=("192.0.2.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        answer = await client.get("/__admin/ui")
    assert answer.status_code == 403 and "only loopback clients" in answer.json()["message"]

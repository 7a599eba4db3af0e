"""The Import Status screen in a real browser (Debian's chromium, headless,
driven by Selenium through chromium-driver): sign in, upload a generated file
through the page, watch the bar move without a reload, pause and resume, read
the grouped errors, page the failed rows, open a contact, download the error
file; values from the data stay text; the layout holds at 375 px; the page
reconnects after a server restart. Screenshots go to .build/screenshots."""
import base64
import csv
import io
import os
import socket
import time

import pytest

import generated
import web
from conftest import Importd

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SHOTS = os.path.join(ROOT, ".build", "screenshots")
XSS = "<img src=x onerror=alert(1)>"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    downloads = str(tmp_path_factory.mktemp("downloads"))
    driver = web.chrome()
    if driver is None:
        pytest.fail("chromium and chromium-driver are needed (scripts/install-deps.sh --test installs them)")
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    driver.downloads = downloads
    os.makedirs(SHOTS, exist_ok=True)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("console") / "data"
    ports = (free_port(), free_port())
    args = ("--listen", "127.0.0.1:%d" % ports[0], "--web-listen", "127.0.0.1:%d" % ports[1], "--batch-rows", "200")
    server = Importd(data, *args)
    server.web = web.web_url(server)
    server.restart_args = (data, args)
    yield server
    server.stop()


def js(driver, script, *args):
    return driver.execute_script(script, *args)


def text(driver, element_id):
    return js(driver, "return document.getElementById(arguments[0]).textContent", element_id)


def wait(predicate, timeout=30, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def click_action(driver, label):
    """Clicks the detail view's action button `label` (re-rendered on every update: found and clicked in one step)."""
    return js(driver, """const b = [...document.querySelectorAll('#detail-actions button')].find(b => b.textContent === arguments[0]);
        if (b) b.click(); return !!b""", label)


def shot(driver, name):
    driver.save_screenshot(os.path.join(SHOTS, name + ".png"))


def sign_in(driver, server, token):
    driver.get(server.web + "/#/status")
    js(driver, "sessionStorage.clear()")
    driver.refresh()
    field = wait(lambda: driver.find_elements("id", "token") and driver.find_element("id", "token").is_displayed() and driver.find_element("id", "token"),
                 what="the sign-in form")
    field.clear()
    field.send_keys(token)
    # The keyboard alone: Enter submits.
    field.send_keys("\n")
    wait(lambda: not js(driver, "return document.getElementById('view-status').hidden"), what="the status screen")


def test_sign_in_refuses_a_bad_token_and_keeps_a_good_one_in_the_tab_only(browser, server):
    browser.get(server.web + "/")
    browser.find_element("id", "token").send_keys("imt_not_a_real_token\n")
    wait(lambda: "not valid" in text(browser, "signin-message"), what="the refusal")
    sign_in(browser, server, server.token)
    assert js(browser, "return sessionStorage.getItem('importd.token')") == server.token
    assert js(browser, "return document.cookie") == ""
    assert server.token not in browser.current_url
    assert text(browser, "scope-label") == "admin token"


def test_import_through_the_page_then_follow_it_live(browser, server, tmp_path):
    _, _, campaign = web.connect_unary(server.web, "CreateCampaign", {"name": "Summer " + XSS, "code": "SUMMER"}, server.token)
    _, _, subscription = web.connect_unary(server.web, "CreateSubscription", {"name": "Newsletter", "code": "NEWS"}, server.token)
    path = str(tmp_path / "summer-leads.csv")
    counts = generated.generate(60000, path, 5)
    sign_in(browser, server, server.token)

    browser.get(server.web + "/#/import")
    wait(lambda: js(browser, "return document.getElementById('campaign').options.length") == 2, what="the campaigns")
    # The campaign's name is text in the drop-down, not markup.
    assert js(browser, "return document.getElementById('campaign').options[1].textContent") == "Summer " + XSS + " (SUMMER)"
    assert js(browser, "return document.querySelectorAll('#view-import img').length") == 0
    # Every control has a label a screen reader can read.
    unlabelled = js(browser, """return [...document.querySelectorAll('input, select')].filter(e =>
        !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id || e.name)""")
    assert unlabelled == []
    browser.find_element("id", "file").send_keys(path)
    js(browser, "document.getElementById('campaign').value = arguments[0]", campaign["id"])
    browser.find_element("css selector", "#subscriptions input[value='%s']" % subscription["id"]).click()
    browser.find_element("css selector", "input[name=kind][value=CONTACT_KIND_LEAD]").click()
    shot(browser, "import-1280")
    js(browser, "window.__uploadSeen = []; new MutationObserver(() => window.__uploadSeen.push(document.getElementById('upload-bar').value))"
                ".observe(document.getElementById('upload-bar'), {attributes: true})")
    browser.find_element("id", "upload-button").click()
    wait(lambda: "Uploaded" in text(browser, "upload-message"), 60, "the upload")
    assert text(browser, "upload-text") == "100%"
    assert len(js(browser, "return window.__uploadSeen")) >= 2  # the bar moved as chunks went

    # Follow it: pause at once (QUEUED or RUNNING), then resume.
    js(browser, "window.__marker = 'no reload'")
    browser.find_element("link text", "Follow its progress").click()
    import_id = wait(lambda: browser.current_url.split("#/imports/")[-1] if "#/imports/" in browser.current_url else None)
    wait(lambda: click_action(browser, "Pause"), what="Pause")
    wait(lambda: text(browser, "detail-state") == "PAUSED", 30, "PAUSED")
    paused_at = text(browser, "detail-percent")
    js(browser, """window.__seen = []; new MutationObserver(() => window.__seen.push(document.getElementById('detail-percent').textContent))
        .observe(document.getElementById('detail-percent'), {childList: true, characterData: true, subtree: true})""")
    time.sleep(1.5)
    assert text(browser, "detail-percent") == paused_at  # paused means still
    wait(lambda: click_action(browser, "Resume"), what="Resume")
    wait(lambda: text(browser, "detail-state") == "COMPLETED", 120, "COMPLETED")
    seen = js(browser, "return window.__seen")
    assert any(p not in ("0%", "100%", paused_at) for p in seen), seen  # the bar moved by itself
    assert js(browser, "return window.__marker") == "no reload"
    assert text(browser, "count-failed") == format(counts["rows"] - counts["clean"], ",")
    assert text(browser, "count-created") == format(counts["clean"], ",")
    shot(browser, "status-detail-1280")

    # Errors grouped by code, as the API counts them.
    _, _, summary = web.connect_unary(server.web, "SummarizeImport", {"importId": import_id, "groupBy": "GROUP_BY_ERROR_CODE"}, server.token)
    expected = sorted([g["key"], format(int(g["count"]), ",")] for g in summary["groups"])
    wait(lambda: sorted(js(browser, "return [...document.querySelectorAll('#by-code tbody tr')].map(r => [r.cells[0].textContent, r.cells[1].textContent])"))
         == expected, 10, "the grouped errors")

    # Failed rows, paged 20 at a time.
    first = js(browser, "return [...document.querySelectorAll('#rows-table tbody tr')].map(r => r.cells[0].textContent)")
    assert len(first) == 20
    browser.find_element("id", "rows-next").click()
    wait(lambda: text(browser, "rows-page") == "Page 2")
    second = wait(lambda: (lambda rows: rows if rows and rows != first else None)(
        js(browser, "return [...document.querySelectorAll('#rows-table tbody tr')].map(r => r.cells[0].textContent)")))
    assert int(second[0]) > int(first[-1])
    browser.find_element("id", "rows-prev").click()
    wait(lambda: js(browser, "return [...document.querySelectorAll('#rows-table tbody tr')].map(r => r.cells[0].textContent)") == first)

    # The error file, as the API exports it.
    browser.find_element("id", "download-errors").click()
    target = os.path.join(browser.downloads, import_id + "-errors.csv")
    wait(lambda: os.path.exists(target) and os.path.getsize(target) > 0, 30, "the error file")
    exported = server.client().errors_csv(import_id)
    assert open(target, "rb").read() == exported
    assert len(list(csv.reader(io.StringIO(exported.decode("utf-8-sig"))))) == counts["rows"] - counts["clean"] + 1

    # A created contact's profile: its campaign, subscriptions and the import that made it.
    js(browser, "const s = document.getElementById('rows-outcome'); s.value = 'ROW_OUTCOME_CREATED'; s.dispatchEvent(new Event('change'))")
    link = wait(lambda: browser.find_elements("css selector", "#rows-table tbody a[href^='#/contacts/']"), what="a contact link")[0]
    link.click()
    wait(lambda: "Origin campaign" in text(browser, "contact-fields"), what="the contact")
    profile = text(browser, "contact-fields")
    assert "Summer " + XSS in profile and "Newsletter" in profile and import_id in profile and "lead" in profile
    assert js(browser, "return document.querySelectorAll('#view-contact img').length") == 0
    shot(browser, "contact-1280")


def test_cells_from_a_file_show_as_text(browser, server, tmp_path):
    path = tmp_path / "xss.csv"
    path.write_text("email,first_name,last_name\nnot-an-email,%s,Doe\nok@example.com,Ann,Lee\n" % XSS)
    sign_in(browser, server, server.token)
    browser.get(server.web + "/#/import")
    browser.find_element("id", "file").send_keys(str(path))
    browser.find_element("id", "upload-button").click()
    wait(lambda: "Uploaded" in text(browser, "upload-message"), 30, "the upload")
    browser.find_element("link text", "Follow its progress").click()
    wait(lambda: text(browser, "detail-state") == "COMPLETED", 60, "COMPLETED")
    cell = wait(lambda: js(browser, "return [...document.querySelectorAll('#rows-table tbody td')].map(c => c.textContent).find(t => t.includes('onerror'))"),
                what="the failed row")
    assert cell == XSS
    assert js(browser, "return document.querySelectorAll('#rows-table img').length") == 0
    from selenium.common.exceptions import NoAlertPresentException
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text


def test_a_refused_file_lists_its_header_problems_by_column(browser, server, tmp_path):
    path = tmp_path / "refused.csv"
    path.write_text("nope,email\n1,a@example.com\n")
    sign_in(browser, server, server.token)
    browser.get(server.web + "/#/import")
    browser.find_element("id", "file").send_keys(str(path))
    browser.find_element("id", "upload-button").click()
    wait(lambda: "refused" in text(browser, "upload-message"), 30, "the refusal")
    items = js(browser, "return [...document.querySelectorAll('#upload-message li')].map(li => li.textContent)")
    assert any(i.startswith("nope:") for i in items) and any(i.startswith("first_name:") for i in items)
    shot(browser, "import-refused-1280")


def test_the_template_downloads_as_the_api_gives_it(browser, server):
    sign_in(browser, server, server.token)
    browser.get(server.web + "/#/import")
    wait(lambda: js(browser, "return document.querySelectorAll('#template-fields li').length") > 5, what="the template fields")
    browser.find_element("id", "download-template").click()
    target = os.path.join(browser.downloads, "contacts-template.csv")
    wait(lambda: os.path.exists(target) and os.path.getsize(target) > 0, 30, "the template")
    _, _, template = web.connect_unary(server.web, "GetImportTemplate", {}, server.token)
    assert open(target, "rb").read() == base64.b64decode(template["csv"])


def test_a_read_token_sees_no_actions(browser, server):
    reader = server.new_token("read", "dashboard")
    _, _, page = web.connect_unary(server.web, "ListImports", {}, server.token)
    queued_or_done = page["imports"][0]["id"]
    sign_in(browser, server, reader)
    assert text(browser, "scope-label") == "read token"
    browser.get(server.web + "/#/imports/" + queued_or_done)
    wait(lambda: text(browser, "detail-state") not in ("", None), what="the import")
    time.sleep(0.3)
    assert js(browser, "return document.querySelectorAll('#detail-actions button').length") == 0


def test_narrow_screens_and_a_server_restart(browser, server, tmp_path):
    sign_in(browser, server, server.token)
    browser.set_window_size(375, 800)
    try:
        for view in ("#/import", "#/status"):
            browser.get(server.web + "/" + view)
            time.sleep(0.5)
            width = js(browser, "return document.documentElement.scrollWidth")
            assert width <= 380, (view, width)
        shot(browser, "status-375")
        browser.get(server.web + "/#/import")
        time.sleep(0.3)
        shot(browser, "import-375")
    finally:
        browser.set_window_size(1280, 900)

    browser.get(server.web + "/#/status")
    wait(lambda: "Live" in text(browser, "live"), what="the live watch")
    shot(browser, "status-1280")
    js(browser, "window.__marker = 'no reload'")
    # Restart importd on the same ports and data: the page reconnects by itself.
    server.stop()
    wait(lambda: "Reconnecting" in text(browser, "live"), 20, "the page to notice")
    data, args = server.restart_args
    restarted = Importd(data, *args)
    server.server = restarted.server
    wait(lambda: "Live" in text(browser, "live"), 30, "the reconnect")
    path = tmp_path / "after-restart.csv"
    path.write_text("email,first_name,last_name\nafter@example.com,After,Restart\n")
    job = restarted.client().upload(str(path))
    wait(lambda: js(browser, "return !!document.getElementById('row-' + arguments[0])", job.id), 30, "the new import on the page")
    assert js(browser, "return window.__marker") == "no reload"

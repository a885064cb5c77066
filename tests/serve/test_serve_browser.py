"""The web page in headless Chromium: type a problem, watch the steps stream in, see the answer.

Needs the Debian packages chromium and chromium-driver and the `selenium` package; skipped
with the reason when one is missing. The screenshot is saved in the test's tmp_path, and copied
to $TEST_ARTIFACTS when that is set.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from serve_helpers import LiveServer, Slow, make_steered

from socratic_distill.infer.generate import hf_generator
from socratic_distill.serve.app import create_app
from socratic_distill.serve.config import ServeConfig

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
PROBLEM = "A baker makes 12 muffins and sells 5. How many muffins are left?"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed "
                                "(pip install selenium)")
if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} missing (apt-get install chromium "
                "chromium-driver)", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1100,1000",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture
def page_server(tok):
    """Students that write three full steps, slowly enough to watch them arrive."""
    qg = Slow(hf_generator(make_steered(tok, 1), tok), delay=0.25)
    qa = Slow(hf_generator(make_steered(tok, 2), tok), delay=0.25)
    with LiveServer(create_app({"qg": qg, "qa": qa}, ServeConfig(max_new_tokens=6))) as live:
        yield live


def save_artifact(path: Path) -> None:
    target = os.environ.get("TEST_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def test_page_streams_the_dialogue_and_shows_the_answer(browser, page_server, tmp_path):
    browser.get(page_server.url + "/")
    wait = WebDriverWait(browser, 30, poll_frequency=0.05)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#method option"))
    assert "batching on" in browser.find_element(By.ID, "status").text
    browser.find_element(By.ID, "question").send_keys(PROBLEM)
    browser.find_element(By.ID, "max_steps").clear()
    browser.find_element(By.ID, "max_steps").send_keys("3")
    browser.find_element(By.ID, "solve").click()
    # Steps appear one by one while the answer is not there yet.
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".step-q"))
    assert not browser.find_element(By.ID, "answer").is_displayed()
    wait.until(lambda d: d.find_element(By.ID, "answer").is_displayed())
    questions = browser.find_elements(By.CSS_SELECTOR, ".step-q .bubble")
    answers = browser.find_elements(By.CSS_SELECTOR, ".step-a .bubble")
    assert len(questions) == len(answers) == 3
    assert all(q.text.strip() for q in questions) and all(a.text.strip() for a in answers)
    assert not browser.find_elements(By.CSS_SELECTOR, ".step-a.pending")
    stats = browser.find_element(By.ID, "stats").text
    assert "tokens" in stats and " s " in f"{stats} "
    assert not browser.find_element(By.ID, "error").is_displayed()
    resources = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(name.startswith(page_server.url) for name in resources), resources
    shot = tmp_path / "serve-page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    save_artifact(shot)


def test_page_shows_input_errors(browser, page_server):
    browser.get(page_server.url + "/")
    wait = WebDriverWait(browser, 30, poll_frequency=0.05)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#method option"))
    browser.find_element(By.ID, "max_steps").clear()
    browser.find_element(By.ID, "max_steps").send_keys("99")
    browser.find_element(By.ID, "example").send_keys("Sam")  # picks the example that starts so
    assert browser.find_element(By.ID, "question").get_attribute("value").startswith("Sam reads")
    browser.find_element(By.ID, "solve").click()
    wait.until(lambda d: d.find_element(By.ID, "error").is_displayed())
    assert "422" in browser.find_element(By.ID, "error").text
    assert "max_steps" in browser.find_element(By.ID, "error").text


def test_page_shows_the_verifier_score_of_the_chosen_sample(browser, tok):
    generators = {"qg": hf_generator(make_steered(tok, 1), tok),
                  "qa": hf_generator(make_steered(tok, 2), tok)}
    app = create_app(generators, ServeConfig(max_new_tokens=6),
                     scorer=lambda prompts: [len(p) % 7 / 7 for p in prompts])
    with LiveServer(app) as live:
        browser.get(live.url + "/")
        wait = WebDriverWait(browser, 30, poll_frequency=0.05)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#method option"))
        browser.find_element(By.ID, "question").send_keys(PROBLEM)
        browser.find_element(By.ID, "samples").clear()
        browser.find_element(By.ID, "samples").send_keys("3")
        browser.find_element(By.ID, "solve").click()
        wait.until(lambda d: d.find_element(By.ID, "answer").is_displayed())
        assert "verifier score" in browser.find_element(By.ID, "stats").text
        assert "best of 3" in browser.find_element(By.ID, "stats").text

"""Snakemake's HTML report (``snakemake --report report.html``) opened in headless Chromium and
walked as a reader would, through its menu, with selenium: what a category lists, the caption of
each result, whether each plot loads. The page is a single-file React app (Snakemake 9) that
builds everything in the browser, so a report that is well formed as a file can still show a
broken image, an empty caption or a JavaScript error; only a browser sees those.

The UI, as the report's components (snakemake/report/html_reporter/template/components) draw it:
the menu lists the categories under "Results"; a category of one subcategory shows a table, one
row per result, whose last cell holds two buttons: "eye" (shows an image or HTML page on the
right, or is a download link of a data: URI for any other type) and "information" (the result's
path, caption under "Description", size and rule, in place of the table). The breadcrumbs at the
top of the menu lead back to the category and the home menu.

Used by tests/integration/test_workflow.py and docs/report_screenshot.py (which puts this
directory on its path): Debian's chromium and chromium-driver, and selenium from PyPI."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

log = logging.getLogger(__name__)

CHROMIUM = "chromium"  # Debian's packages chromium and chromium-driver (tests/system-packages.txt)
CHROMEDRIVER = "chromedriver"
# Each wait is for the page's own work (React rendering after a click, the decoding of a data:
# URI image, an iframe's load, a CSS transition): well under a second here, bounded generously.
TIMEOUT = 20.0
MENU = "//nav/div/div/ul"  # the home menu (not the breadcrumbs' list)
ROWS = "//nav//table/tbody/tr"
CAPTION = "//nav//li[normalize-space()='Description']/following-sibling::li[1]"
# Once what the eye button showed is there and every image the reader can see (not display:none)
# is complete, loaded or broken: the element shown ("img" or "iframe"), whether that image has
# pixels, and the displayed images without (any <img>, the menu's logo too).
SHOWN = """const done = arguments[arguments.length - 1], start = performance.now();
(function poll() {
    const shown = [...document.querySelectorAll("img, iframe")].find(item => !item.closest("nav"));
    const images = [...document.images].filter(image => image.getClientRects().length > 0);
    if ((!shown || !images.every(image => image.complete)) && performance.now() - start < 10000) {
        return setTimeout(poll, 20);
    }
    const box = shown ? shown.getBoundingClientRect() : null;
    done({shown: shown ? shown.tagName.toLowerCase() : null,
          width: shown && shown.tagName == "IMG" ? shown.naturalWidth : null,
          inside: box ? box.top >= 0 && box.left >= 0 && box.bottom <= innerHeight && box.right <= innerWidth : null,
          broken: images.filter(image => image.naturalWidth == 0).map(image => image.src.slice(0, 80))});
})();"""
# A click as React sees it, on an element the reader can see.
CLICK = "if (!arguments[0].getClientRects().length) throw new Error('not displayed'); arguments[0].click();"
SETTLED = "return [...document.images].every(i => i.complete) && document.getAnimations().length == 0;"
T = TypeVar("T")


@dataclass
class Result:
    """One result of a category as the report shows it."""

    path: str  # the first cell of its row (the file's path: our results have no labels)
    caption: str  # the text under "Description" in its information view, whitespace normalised ("": none)
    shown: str  # "image", "html" (an iframe), "download" (a link to a data: URI) or "nothing"
    loaded: bool  # image: complete with naturalWidth > 0; html: a body with text; download: content
    inside: bool | None = None  # what was shown lies wholly in the window (None: nothing shown)
    broken_images: list[str] = field(default_factory=list)  # displayed <img> that did not load


@contextmanager
def chromium(width: int = 1400, height: int = 900) -> Iterator[WebDriver]:
    """Headless Chromium through chromedriver, with a viewport of ``width`` x ``height`` and the
    console kept (``goog:loggingPrefs``: every level) for :func:`severe_messages`."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which(CHROMIUM) or f"/usr/bin/{CHROMIUM}"
    # --no-sandbox: Chromium refuses to run as root with its sandbox (tests and CI run as root);
    # the page is our own report. /dev/shm is small in containers.
    for argument in ("--headless", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # A driver path given: selenium does not run Selenium Manager, which would download one.
    service = Service(shutil.which(CHROMEDRIVER) or f"/usr/bin/{CHROMEDRIVER}")
    driver = webdriver.Chrome(options=options, service=service)
    try:
        # --window-size sets the window, whose viewport is smaller: set the viewport itself
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        driver.set_script_timeout(TIMEOUT)
        yield driver
    finally:
        driver.quit()


def wait(driver: WebDriver, condition: Callable[[WebDriver], T], message: str) -> T:
    """What ``condition(driver)`` returns once truthy, polled every 50 ms: an element is there
    once React has rendered a view, an image or iframe once it has loaded."""
    return WebDriverWait(driver, TIMEOUT, poll_frequency=0.05).until(condition, message)


def element(driver: WebDriver, xpath: str) -> WebElement:
    """The first element at ``xpath``, once there is one."""
    return wait(driver, lambda d: d.find_elements(By.XPATH, xpath), f"no element {xpath}")[0]


def click(driver: WebDriver, target: WebElement) -> None:
    """Clicks ``target`` in the page's JavaScript: the report's handler runs as on a mouse click,
    and React's update (a microtask) is in the DOM when this returns. WebDriver's own click
    (pointer events, a check that nothing covers the element) took 0.1-0.15 s here, and the walk
    clicks three times per result: the menu's categories are clicked that way, the rest here."""
    driver.execute_script(CLICK, target)


def open_report(driver: WebDriver, report: Path) -> list[str]:
    """Loads ``report`` and returns the categories its menu lists under "Results"."""
    driver.get(report.resolve().as_uri())
    items = wait(driver, lambda d: d.find_elements(By.XPATH, f"{MENU}/li[normalize-space()='Results']"
                                                            "/following-sibling::li/a/span"),
                 "no category in the menu")
    return [item.text for item in items]


def open_category(driver: WebDriver, category: str) -> int:
    """Shows ``category``'s table (from the menu, or from another category through the "Results"
    breadcrumb); returns its number of rows."""
    for back in driver.find_elements(By.XPATH, "//nav//ol//a[normalize-space()='Results']"):
        back.click()
    element(driver, f"{MENU}/li/a[span='{category}']").click()
    return len(wait(driver, lambda d: d.find_elements(By.XPATH, ROWS), f"{category}: no result"))


def show(driver: WebDriver, eye: WebElement) -> tuple[str, bool, list[str], bool | None]:
    """Clicks a result's eye button: what the page then shows ("image", "html", "download" or
    "nothing"), whether it loaded, the displayed images that did not, and whether what it shows
    lies wholly in the window (a plot's top cut off cannot be scrolled to)."""
    href = eye.get_attribute("href") or ""
    if href.startswith("data:"):  # a file the browser can only save: is there content?
        return "download", bool(href.split(",", 1)[-1]), [], None
    click(driver, eye)
    state = driver.execute_async_script(SHOWN)
    if state["shown"] != "iframe":
        return ("image" if state["shown"] else "nothing"), bool(state["width"]), state["broken"], state["inside"]
    driver.switch_to.frame(driver.find_element(By.TAG_NAME, "iframe"))
    try:
        text = wait(driver, lambda d: d.execute_script(
            "return document.readyState == 'complete' && document.body.innerText.trim()"), "no page in the iframe")
    finally:
        driver.switch_to.default_content()
    return "html", bool(text), state["broken"], state["inside"]


def walk_category(driver: WebDriver, category: str) -> list[Result]:
    """Every result of ``category``: shown, then its information view read for its caption, then
    back to the category's table through its breadcrumb."""
    results = []
    for row in range(open_category(driver, category)):
        cells = wait(driver, lambda d: d.find_elements(By.XPATH, ROWS), f"{category}: no result")[row] \
            .find_elements(By.TAG_NAME, "td")
        path = cells[0].text
        eye, information = cells[-1].find_elements(By.TAG_NAME, "a")
        shown, loaded, broken, inside = show(driver, eye)
        click(driver, information)  # the same element: showing re-rendered the table's nodes in place
        element(driver, "//nav//li[normalize-space()='Size']")  # the information view (a caption or not)
        caption = " ".join(" ".join(item.text for item in driver.find_elements(By.XPATH, CAPTION)).split())
        results.append(Result(path, caption, shown, loaded, inside=inside, broken_images=broken))
        log.debug("%s: %s, %s%s", category, path, shown, "" if loaded else " that did not load")
        click(driver, element(driver, f"//nav//ol//a[normalize-space()='{category}']"))
    return results


def open_result(driver: WebDriver, category: str, name: str) -> None:
    """Shows the result of ``category`` whose path contains ``name``, with its information view
    (path, caption, rule) in the menu beside it, once the page has settled: a screenshot's view."""
    open_category(driver, category)
    row = element(driver, f"{ROWS}[contains(td[1], '{name}')]")
    eye, information = row.find_elements(By.XPATH, "td[last()]//a")
    show(driver, eye)
    click(driver, information)
    settle(driver)


def settle(driver: WebDriver) -> None:
    """Waits until every image is complete and no CSS transition runs (the menu's width slides
    for 150 ms when its mode changes): before a screenshot."""
    wait(driver, lambda d: d.execute_script(SETTLED), "the page never settled")


def severe_messages(driver: WebDriver) -> list[str]:
    """The console's SEVERE entries (JavaScript errors, failed loads) since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


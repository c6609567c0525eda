"""`synthetics status-page`: a static site and badges from a seeded history of 90 days with two
incidents and a data gap, opened in headless Chromium; the badges against shields.io's endpoint
schema; read-only, and an unusable history is a one-line usage error.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from synthetics.cli import main
from synthetics.history.alerts import AlertEvent
from synthetics.history.store import SampleRecord, SqliteHistory
from synthetics.reporting.status_page import badge_json, badge_svg

DAY = 86_400.0
TARGET = "https://worker.example"
GAP = (40, 41, 42)  # day indexes (0 = 89 days ago) without any sample
CRITICAL_DAY, WARNING_DAY = 20, 70


def _event(rule: str, severity: str, key: str, kind: str, t: float, since: float) -> str:
    event = AlertEvent(rule, severity, key, TARGET, kind, t, since, t - since,
                       f"{severity.upper()} {rule} [{TARGET} {key}]: seeded")
    return json.dumps(event.as_dict()) + "\n"


def _seed(folder: Path, now: float, days: int, endpoints: tuple[str, ...],
          incidents: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "history.sqlite3"
    store = SqliteHistory(path)
    first_day = (now // DAY - 89) * DAY
    run = store.start_run("health", TARGET, now - days * DAY, now - days * DAY, False)
    records = []
    for day in range(90 - days, 90):
        if day in GAP:
            continue
        for hour in range(24):
            t = first_day + day * DAY + hour * 3600
            if t > now - 60:
                break
            for endpoint, base in (("health", 0.040), ("orchestrate", 0.090), ("dns", 0.030)):
                if endpoint not in endpoints:
                    continue
                down = incidents and endpoint == "health" and day == CRITICAL_DAY and hour < 2
                slow = (incidents and endpoint == "orchestrate" and day == WARNING_DAY
                        and 5 <= hour < 8)
                for i in range(2):
                    total = base * (1 + 0.1 * i + 0.2 * (day % 7) / 7) * (4 if slow else 1)
                    records.append(SampleRecord(
                        t + 60 * i, TARGET, endpoint, "", "GET", 503 if down else 200,
                        not down, None, total=total, wait=total * 0.8))
    store.add_samples(run, records)
    store.finish_run(run, now - days * DAY + 30, "passed")
    store.close()
    if incidents:
        start = first_day + CRITICAL_DAY * DAY
        slow = first_day + WARNING_DAY * DAY + 5 * 3600
        (folder / "alerts.jsonl").write_text(
            _event("health_down", "critical", "health", "firing", start + 70, start)
            + _event("health_down", "critical", "health", "reminder", start + 3670, start)
            + '{"torn line of a killed writer\n'
            + _event("health_down", "critical", "health", "resolved", start + 2 * 3600, start)
            + _event("slow_responses", "warning", "orchestrate", "firing", slow + 330, slow)
            + _event("slow_responses", "warning", "orchestrate", "resolved", slow + 3 * 3600, slow))
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("status")
    now = time.time()
    main_history = _seed(root / "eu", now, 90, ("health", "orchestrate", "dns"), True)
    second = _seed(root / "us", now, 10, ("health",), False)
    before = sorted(p.name for p in root.rglob("*"))
    out = root / "site"
    code = main(["status-page", "--history", f"eu-west={main_history}",
                 "--history", f"us-east={second}", "--out", str(out)])
    return {"root": root, "out": out, "code": code, "before": before,
            "after": sorted(p.name for p in root.rglob("*") if "site" not in p.parts)}


def test_writes_the_site_and_creates_nothing_else(site: dict[str, Any]) -> None:
    assert site["code"] == 0
    assert site["before"] == site["after"]  # no -wal, no -shm, nothing beside the histories
    out = site["out"]
    names = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert names == sorted(["index.html", "status.json", "badges"] + [
        f"badges/{e}.{x}" for e in ("health", "orchestrate", "dns") for x in ("json", "svg")])
    status = json.loads((out / "status.json").read_text())
    health = status["endpoints"]["health"]
    assert [d["availability"] for d in health["daily"]].count(None) == len(GAP)
    assert health["daily"][CRITICAL_DAY]["availability"] == pytest.approx(44 / 48)
    assert set(health["latency_ms"]) == {"eu-west", "us-east"}
    assert sum(v is not None for v in health["latency_ms"]["us-east"]) == 10
    assert [(i["rule"], i["severity"], i["ongoing"]) for i in status["incidents"]] == [
        ("slow_responses", "warning", False), ("health_down", "critical", False)]
    assert status["incidents"][1]["duration_seconds"] == 2 * 3600
    assert status["overall"] == "operational" and status["regions"] == ["eu-west", "us-east"]


# -- shields.io's endpoint schema (https://shields.io/badges/endpoint-badge) ------------------
_SHIELDS_KEYS = {"schemaVersion": int, "label": str, "message": str, "color": str,
                 "labelColor": str, "isError": bool, "namedLogo": str, "logoSvg": str,
                 "logoColor": str, "logoWidth": int, "style": str, "cacheSeconds": int}
_NAMED = {"brightgreen", "green", "yellowgreen", "yellow", "orange", "red", "blue", "lightgrey",
          "grey", "gray", "lightgray", "critical", "important", "success", "informational",
          "inactive", "blueviolet"}


def shields_endpoint_errors(doc: Any) -> list[str]:
    """What makes `doc` invalid as a shields.io endpoint response (empty when valid)."""
    if not isinstance(doc, dict):
        return ["not an object"]
    errors = [f"unknown key {k}" for k in doc if k not in _SHIELDS_KEYS]
    errors += [f"{k} must be {t.__name__}" for k, t in _SHIELDS_KEYS.items()
               if k in doc and (type(doc[k]) is not t)]
    if doc.get("schemaVersion") != 1:
        errors.append("schemaVersion must be 1")
    if "label" not in doc:
        errors.append("label is required")
    if not isinstance(doc.get("message"), str) or not doc.get("message"):
        errors.append("message is required and not empty")
    for key in ("color", "labelColor"):
        value = doc.get(key)
        if isinstance(value, str) and value not in _NAMED and not (
                value.startswith("#") and len(value) in (4, 7)
                and all(c in "0123456789abcdefABCDEF" for c in value[1:])):
            errors.append(f"{key} {value!r} is neither a named nor a hex colour")
    if isinstance(doc.get("cacheSeconds"), int) and doc["cacheSeconds"] < 300:
        errors.append("cacheSeconds below shields.io's minimum of 300")
    return errors


def test_the_schema_check_rejects_what_shields_rejects() -> None:
    good = {"schemaVersion": 1, "label": "health", "message": "up", "color": "brightgreen"}
    assert shields_endpoint_errors(good) == []
    for bad in ({**good, "schemaVersion": 2}, {k: v for k, v in good.items() if k != "label"},
                {**good, "message": ""}, {**good, "colour": "red"}, {**good, "color": "bad"},
                {**good, "cacheSeconds": "300"}, {**good, "cacheSeconds": 60},
                {**good, "isError": "true"}, [good]):
        assert shields_endpoint_errors(bad), bad


def test_badges_validate_against_the_shields_endpoint_schema(site: dict[str, Any]) -> None:
    for path in sorted((site["out"] / "badges").glob("*.json")):
        doc = json.loads(path.read_text())
        assert shields_endpoint_errors(doc) == [], path.name
        assert doc["label"] == path.stem and doc["color"] == "brightgreen"
        assert doc["message"].startswith("up · ") and doc["message"].endswith("(30d)")
        svg = ET.fromstring((site["out"] / "badges" / f"{path.stem}.svg").read_text())
        assert svg.tag == "{http://www.w3.org/2000/svg}svg"
        assert doc["message"] in "".join(svg.itertext())


def test_badge_of_a_down_endpoint() -> None:
    from synthetics.reporting.status_page import DayFigures, EndpointStatus

    ep = EndpointStatus("health", 200.0, [DayFigures(100, 90)], last_t=1000.0, last_ok=False)
    badge = badge_json(ep, 1100.0)
    assert badge["color"] == "red" and badge["message"] == "down · 90% (30d)"
    assert shields_endpoint_errors(badge) == []
    assert badge_json(ep, 1000.0 + 7 * 3600)["message"].startswith("unknown")  # stale
    assert "down · 90% (30d)" in badge_svg(badge)


@pytest.fixture(scope="module")
def browser(start_chromium: Callable[[str], Any]) -> Iterator[Any]:
    """Headless Chromium (tests/conftest.py), 1100×1800."""
    driver = start_chromium("1100,1800")
    try:
        yield driver
    finally:
        driver.quit()


def test_status_page_renders_in_chromium(site: dict[str, Any], browser: Any) -> None:
    from selenium.webdriver.common.by import By

    page = (site["out"] / "index.html").read_text()
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page.replace(TARGET, "")
    browser.get((site["out"] / "index.html").as_uri())
    assert browser.find_element(By.ID, "overall").text == "All endpoints operational"
    for endpoint in ("health", "orchestrate", "dns"):
        bars = browser.find_elements(By.CSS_SELECTOR, f'.bars[data-endpoint="{endpoint}"] .bar')
        assert len(bars) == 90
        assert all(b.size["height"] >= 30 and b.size["width"] >= 3 for b in bars)
        gap = [b.get_attribute("data-day") for b in bars
               if "nodata" in (b.get_attribute("class") or "")]
        assert gap == [bars[i].get_attribute("data-day") for i in GAP]
        assert "no data" in (bars[GAP[0]].get_attribute("title") or "")
    health = browser.find_elements(By.CSS_SELECTOR, '.bars[data-endpoint="health"] .bar')
    assert "down" in (health[CRITICAL_DAY].get_attribute("class") or "").split()
    assert browser.execute_script(  # the gap is drawn differently from a day with data
        "return getComputedStyle(arguments[0]).backgroundImage !== "
        "getComputedStyle(arguments[1]).backgroundImage", health[GAP[0]], health[0])
    rows = browser.find_elements(By.CSS_SELECTOR, "#incidents tr.incident")
    assert [r.get_attribute("data-rule") for r in rows] == ["slow_responses", "health_down"]
    cells = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    assert cells[0][2:4] == ["3.0 h", "warning"] and cells[1][2:4] == ["2.0 h", "critical"]
    assert all(c[0].endswith("UTC") and c[1].endswith("UTC") for c in cells)
    trend = browser.find_element(By.CSS_SELECTOR, 'svg.trend[data-endpoint="health"]')
    lines = trend.find_elements(By.CSS_SELECTOR, "polyline.series")
    assert {line.get_attribute("data-region") for line in lines} == {"eu-west", "us-east"}
    eu_p95 = [line for line in lines if line.get_attribute("data-region") == "eu-west"
              and line.get_attribute("data-q") == "p95"]
    assert len(eu_p95) == 2  # broken at the gap, not drawn across it
    assert all(browser.execute_script("return arguments[0].getBBox().width", line) > 100
               for line in eu_p95)
    # the 200 ms budget is far above ~50 ms answers: named at the top, not drawn to scale
    assert not trend.find_elements(By.CSS_SELECTOR, "line.budget")
    assert "budget 200 ms, above the scale" in trend.text
    slow = browser.find_element(By.CSS_SELECTOR, 'svg.trend[data-endpoint="orchestrate"]')
    assert slow.find_elements(By.CSS_SELECTOR, "line.budget")  # the slow day nears 500 ms
    for img in browser.find_elements(By.CSS_SELECTOR, "img.badge"):
        assert browser.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 50", img)
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    browser.save_screenshot(str(site["root"] / "status-page.png"))
    shots = Path(__file__).resolve().parent.parent / "reports"
    shots.mkdir(exist_ok=True)
    shutil.copy(site["root"] / "status-page.png", shots / "status-page-screenshot.png")


def _usage(tmp_path: Path, capsys: pytest.CaptureFixture[str], history: Path) -> str:
    out = tmp_path / "site"
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["status-page", "--history", str(history), "--out", str(out)]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("synthetics status-page: "), err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing created, no --out
    return err


def test_unusable_history_is_a_one_line_usage_error(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert "no such file" in _usage(tmp_path, capsys, tmp_path / "missing.sqlite3")
    junk = tmp_path / "junk.sqlite3"
    junk.write_text("not a database, just text" * 100)
    assert "not a database" in _usage(tmp_path, capsys, junk)
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE t (a)").connection.close()
    assert "not a synthetics history" in _usage(tmp_path, capsys, other)
    empty = tmp_path / "empty" / "history.sqlite3"
    SqliteHistory(empty).close()
    assert "holds no run" in _usage(tmp_path, capsys, empty)


def test_reads_a_history_a_writer_holds_open(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = _seed(tmp_path / "h", time.time(), 3, ("health",), False)
    writer = SqliteHistory(path)  # a running scheduler: the -wal and -shm files exist
    try:
        run = writer.start_run("health", TARGET, time.time(), time.time(), False)
        writer.add_samples(run, [SampleRecord(time.time() - 5, TARGET, "health", "", "GET", 200,
                                              True, None, total=0.05)])
        before = sorted(p.name for p in (tmp_path / "h").iterdir())
        assert "history.sqlite3-wal" in before
        assert main(["status-page", "--history", str(path), "--out", str(tmp_path / "s")]) == 0
        assert sorted(p.name for p in (tmp_path / "h").iterdir()) == before
        status = json.loads((tmp_path / "s" / "status.json").read_text())
        assert status["endpoints"]["health"]["daily"][-1]["samples"] >= 1
        assert "written to" in capsys.readouterr().out
    finally:
        writer.close()

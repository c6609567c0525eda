"""Dashboard: HEAD / answers 200 (the document's `curl -I`) and GET / is the dashboard page."""

import pytest

from synthetics import expect
from synthetics.expectations import DASHBOARD_TITLE, ENDPOINTS, Expectation, params
from synthetics.probe import Probe

pytestmark = pytest.mark.dashboard


@pytest.mark.parametrize("expectation", params("test_dashboard_head"))
def test_dashboard_head(expectation: Expectation, probe: Probe) -> None:
    expect.response(probe.request(ENDPOINTS["dashboard"].request("HEAD")))


@pytest.mark.parametrize("expectation", params("test_dashboard_page"))
def test_dashboard_page(expectation: Expectation, probe: Probe) -> None:
    sample = expect.response(probe.request(ENDPOINTS["dashboard"].request()))
    content_type = sample.headers.get("content-type", "")
    if not content_type.startswith("text/html"):
        expect.fail(f"GET /: Content-Type is {content_type or 'missing'!r}, expected text/html")
    page = sample.body.decode("utf-8", "replace")
    if DASHBOARD_TITLE not in page:
        expect.fail(f'GET /: the page does not carry the title "{DASHBOARD_TITLE}"')

"""A rendered report loads in headless Chromium without errors and with every image."""

import pytest
from browser import CHROMIUM, probe
from data.results_factory import report_from_tables, write_results


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_loads_in_chromium_with_no_errors_and_all_images(tmp_path):
    folder = write_results(tmp_path / "run")
    found = probe(report_from_tables(folder), tmp_path)
    assert found["errors"] == []
    assert found["images"] >= 5
    assert found["broken"] == []

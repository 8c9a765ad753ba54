"""dashboards/static/dashboards/plotly.css holds the vendored plotly.js bundle's own style rules (which
it would otherwise add as an inline <style>, refused by the Content-Security-Policy)."""

from pathlib import Path

from django.conf import settings

from dashboards.plotly_css import maplibre_style_id, stylesheet

CSS = Path(settings.BASE_DIR) / "dashboards" / "static" / "dashboards" / "plotly.css"


def test_the_committed_stylesheet_matches_the_vendored_plotly_bundle():
    """After `make vendor` upgrades plotly.js:
    python -m dashboards.plotly_css > dashboards/static/dashboards/plotly.css"""
    expected = stylesheet()
    assert ".js-plotly-plot .plotly .modebar" in expected and ".plotly-notifier" in expected
    assert CSS.read_text(encoding="utf-8") == expected


def test_the_map_traces_style_id_is_found():
    assert len(maplibre_style_id()) == 64

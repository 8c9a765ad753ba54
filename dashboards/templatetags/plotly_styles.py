"""{% plotly_maplibre_style_id %}: the id that stops plotly.js's map code adding a <style> (see
dashboards/plotly_css.py)."""

from django import template

from dashboards.plotly_css import maplibre_style_id

register = template.Library()


@register.simple_tag
def plotly_maplibre_style_id() -> str:
    return maplibre_style_id()

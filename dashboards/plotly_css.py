"""plotly.js's own style rules as a stylesheet file, so that the charts need no inline <style>.

plotly.js adds its rules (the mode bar, hover labels, cursors, notifier) to a <style> element
it creates at run time, which the Content-Security-Policy (style-src 'self') refuses. It skips
that when the page already has an element with id "plotly.js-style-global" and the class
"no-inline-styles": the dashboards' pages have one, a <link> to static/dashboards/plotly.css,
which holds the same rules, read by this module from the pinned bundle the pages load
(plotly.js-basic-dist-min, copied from npm by `make vendor` into static/vendor/), and an empty
element with the id of the <style> that the bundle's MapLibre code adds (maplibre_style_id()):

    python -m dashboards.plotly_css > dashboards/static/dashboards/plotly.css

(tests/dashboards/test_plotly_css.py fails when the file no longer matches the vendored bundle).
The rules are an object literal in plotly.js's bundle (its build/plotcss.js), selectors written
with X for ".js-plotly-plot .plotly" and Y for ".plotly-notifier", as plotly.js expands them.
"""

import ast
import re
import sys
from functools import cache
from pathlib import Path

BUNDLE = Path(__file__).resolve().parent / "static" / "vendor" / "plotly.js-basic-dist-min" / "plotly-basic.min.js"
START = '{"X,X div":'
# The bundle's MapLibre code (even the basic bundle holds some) adds its own <style> at load
# unless an element has this id.
MAPLIBRE_STYLE = re.compile(
    r'document\.getElementById\("([0-9a-f]{64})"\)\)\{var \w+=document\.createElement\("style"\)'
)


def _object_literal(text: str, start: int) -> str:
    depth, quote, index = 0, None, start
    while True:
        char = text[index]
        if quote:
            if char == "\\":
                index += 2
                continue
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start : index + 1]
        index += 1


def plotly_rules(script: str) -> list[tuple[str, str]]:
    """(selector, declarations) of plotly.js's rules, in its order."""
    literal = ast.parse(_object_literal(script, script.index(START)), mode="eval").body
    rules = []
    for key, value in zip(literal.keys, literal.values, strict=True):
        selector = key.id if isinstance(key, ast.Name) else key.value  # {Y: ...} is unquoted
        selector = selector.replace(",", " ,", 1) if selector.startswith(",") else selector
        selector = selector.replace("X", ".js-plotly-plot .plotly").replace("Y", ".plotly-notifier")
        rules.append((selector, value.value))
    return rules


@cache
def _script() -> str:
    return BUNDLE.read_text(encoding="utf-8")


@cache
def maplibre_style_id() -> str:
    """The id of the <style> the bundle's MapLibre code adds: the dashboards draw no MapLibre
    map (their city map is a plain scatter of coordinates), so an empty element with this id
    (dashboards/base.html) stops it, as that code checks for one first."""
    return MAPLIBRE_STYLE.search(_script()).group(1)


def stylesheet() -> str:
    script = _script()
    lines = ["/* plotly.js's style rules, from the vendored plotly-basic.min.js (dashboards/plotly_css.py). */"]
    lines += [f"{selector} {{{declarations}}}" for selector, declarations in plotly_rules(script)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(stylesheet())

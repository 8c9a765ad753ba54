"""Serves plotly.js from the installed plotly package (its PyPI wheel ships plotly.min.js) as
the static file dashboards/plotly.min.js: the charts never load anything from a CDN, and
upgrading the pinned plotly in requirements.txt upgrades the script.

Only that one file is exposed (the package's folder also holds a widget bundle and data sets
that collectstatic has no reason to copy).
"""

from pathlib import Path

import plotly
from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

STATIC_PATH = "dashboards/plotly.min.js"
PACKAGE_DATA = Path(plotly.__file__).resolve().parent / "package_data"


class PlotlyFinder(BaseFinder):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.storage = FileSystemStorage(location=str(PACKAGE_DATA))
        self.storage.prefix = "dashboards"  # collectstatic copies plotly.min.js to dashboards/

    def check(self, **kwargs) -> list:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs):
        find_all = find_all or kwargs.get("all", False)  # Django < 6 may still pass all=
        if path != STATIC_PATH:
            return [] if find_all else None
        match = str(PACKAGE_DATA / "plotly.min.js")
        return [match] if find_all else match

    def list(self, ignore_patterns):
        yield "plotly.min.js", self.storage

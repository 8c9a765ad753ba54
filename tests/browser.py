"""What every browser test shares: Debian's chromium launched headless, the three widths the pages
must fit, and one look at a page as a person would take it.

look(page, name) saves a full-page screenshot to test-artefacts/NAME.png and returns what is
wrong with the page as a list of sentences (empty when all is well): sideways scrolling (the
document wider than the viewport), and on a Chinese page any run of two or more English words
left in its visible text (an untranslated string). A test collects these and asserts the list is
empty once it has closed the browser, so one run shows every page that fails, not only the first.
"""

from pathlib import Path

from django.conf import settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 768, "height": 1024}
DESKTOP = {"width": 1280, "height": 800}
VIEWPORTS = (PHONE, TABLET, DESKTOP)
ARTEFACTS = Path(settings.BASE_DIR) / "test-artefacts"

# English words a Chinese page may show: the brand, units and codes.
ALLOWED_ENGLISH = ("GreenBox", "kg CO2e", "CO2e", "QR", "API", "CSV", "JSON", "Cainiao")

# The visible text's runs of two or more English words (letters, 2+ each; Xi'an is one), minus
# the allowed ones. innerText leaves out hidden elements, <script> and <style>.
_ENGLISH_RUNS = """(allowed) => {
  let text = document.body.innerText;
  for (const allowedWord of allowed) text = text.split(allowedWord).join(" ");
  const word = "[A-Za-z]{2,}(?:'[a-z]+)?";  // Xi'an is one word (a place name), not two
  return text.match(new RegExp(`\\b${word}(?:[ ,-]+${word})+\\b`, "g")) || [];
}"""
_SIDEWAYS = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def launch(playwright, *extra_args: str):
    """Debian's chromium, headless, with the flags every test needs and any extra ones (a fake camera)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args], headless=True)


def look(page, name: str, *, allowed: tuple[str, ...] = ()) -> list[str]:
    """Screenshot the page as test-artefacts/NAME.png and return what is wrong with it."""
    ARTEFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)
    problems = []
    scroll_width, viewport_width = page.evaluate(_SIDEWAYS)
    if scroll_width > viewport_width:
        problems.append(f"{name}: scrolls sideways ({scroll_width} px wide in a {viewport_width} px viewport)")
    if (page.get_attribute("html", "lang") or "").startswith("zh"):
        english = page.evaluate(_ENGLISH_RUNS, [*ALLOWED_ENGLISH, *allowed])
        if english:
            problems.append(f"{name}: untranslated text {english[:5]}")
    return problems

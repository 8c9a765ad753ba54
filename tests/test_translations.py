"""The translation catalogs under locale/ stay complete, compiled and in use.

Simplified Chinese is the default language and English the source language: the zh_Hans catalog
translates every string, the en catalog only lists them. After changing a user-visible string:

    DEBUG=1 python manage.py makemessages --locale zh_Hans --locale en --ignore '.venv/*' \
        --ignore 'tests/*' --ignore 'bench/*' --ignore 'staticfiles/*' --ignore 'test-artefacts/*'
    (translate the new entries of locale/zh_Hans/LC_MESSAGES/django.po, remove '#, fuzzy')
    DEBUG=1 python manage.py compilemessages --ignore '.venv/*'

and commit the .po and the .mo files: a machine without GNU gettext cannot compile them.
"""

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polib
import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
CATALOGS = {language: BASE_DIR / "locale" / language / "LC_MESSAGES" for language in ("zh_Hans", "en")}
ZH_PO = CATALOGS["zh_Hans"] / "django.po"
EN_PO = CATALOGS["en"] / "django.po"

# What makemessages must not scan, as in the command of the module docstring; var/ and the
# database are runtime files, locale/ is what the check regenerates.
NOT_SOURCE = {".venv", "tests", "bench", "staticfiles", "test-artefacts", "var", "locale", ".git"}

# %(name)s, %(count)d, %(seconds).1f, %s, %% ; {name} ; HTML tags.
PLACEHOLDER = re.compile(
    r"%(?:\([^)]+\))?[-#0 +]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa%]|\{[A-Za-z_]\w*\}|</?[A-Za-z][^>]*>"
)


def _tokens(text: str) -> Counter:
    return Counter(PLACEHOLDER.findall(text))


def _entries(po: polib.POFile) -> list[polib.POEntry]:
    return [entry for entry in po if not entry.obsolete]


def _key(entry: polib.POEntry) -> tuple[str | None, str]:
    return (entry.msgctxt, entry.msgid)


def _mapping(catalog: polib._BaseFile) -> dict:
    """msgid -> msgstr of the translated entries, as msgfmt compiles them (it drops the others)."""
    mapping = {}
    for entry in catalog:
        if entry.obsolete or "fuzzy" in entry.flags or not entry.msgid:
            continue
        if entry.msgid_plural:
            forms = tuple(entry.msgstr_plural[index] for index in sorted(entry.msgstr_plural))
            if any(forms):
                mapping[(entry.msgctxt, entry.msgid, entry.msgid_plural)] = forms
        elif entry.msgstr:
            mapping[(entry.msgctxt, entry.msgid)] = entry.msgstr
    return mapping


def test_the_chinese_catalog_translates_every_entry():
    """Every entry of the zh_Hans catalog has a translation and none is left fuzzy."""
    po = polib.pofile(str(ZH_PO))
    assert po.metadata["Plural-Forms"] == "nplurals=1; plural=0;"
    untranslated = [entry.msgid for entry in _entries(po) if not entry.translated()]
    fuzzy = [entry.msgid for entry in _entries(po) if entry.fuzzy]
    assert not untranslated, f"untranslated in {ZH_PO}: {untranslated}"
    assert not fuzzy, f"fuzzy in {ZH_PO} (check the translation, then remove the flag): {fuzzy}"
    assert len(_entries(po)) > 500


def test_chinese_translations_keep_the_placeholders_and_markup():
    """A translation keeps the %(name)s, %s, {name} and HTML tags of its source, no more, no fewer."""
    po = polib.pofile(str(ZH_PO))
    wrong = []
    for entry in _entries(po):
        if entry.msgid_plural:
            # One plural form in Chinese: it stands for every count, like the English plural.
            source, translations = entry.msgid_plural, list(entry.msgstr_plural.values())
        else:
            source, translations = entry.msgid, [entry.msgstr]
        for translation in translations:
            if _tokens(translation) != _tokens(source):
                wrong.append((source, translation))
    assert not wrong, "placeholders differ:\n" + "\n".join(f"  {s!r}\n  {t!r}" for s, t in wrong)


def test_the_english_catalog_lists_the_same_strings():
    """The en catalog has the same entries as the zh_Hans one, and English plural rules."""
    zh, en = polib.pofile(str(ZH_PO)), polib.pofile(str(EN_PO))
    assert en.metadata["Plural-Forms"] == "nplurals=2; plural=(n != 1);"
    assert {_key(entry) for entry in _entries(en)} == {_key(entry) for entry in _entries(zh)}
    assert not [entry.msgid for entry in _entries(en) if entry.fuzzy]


@pytest.mark.parametrize("language", sorted(CATALOGS))
def test_the_compiled_catalog_matches_its_source(language):
    """The committed .mo holds exactly the translations of its .po, so no .po is edited without recompiling."""
    folder = CATALOGS[language]
    po, mo = polib.pofile(str(folder / "django.po")), polib.mofile(str(folder / "django.mo"))
    assert mo.metadata.get("Plural-Forms") == po.metadata["Plural-Forms"]
    assert _mapping(mo) == _mapping(po), (
        f"{folder / 'django.mo'} is out of date: run `DEBUG=1 python manage.py compilemessages --ignore '.venv/*'` "
        "(without GNU gettext: python -c \"import polib; polib.pofile('django.po').save_as_mofile('django.mo')\")"
    )


@pytest.mark.skipif(
    not (shutil.which("xgettext") and shutil.which("msguniq")),
    reason="needs GNU gettext (xgettext, msguniq) for makemessages: apt-get install gettext",
)
def test_every_marked_string_of_the_source_is_in_the_catalog(tmp_path):
    """makemessages run over a copy of the source finds no string the zh_Hans catalog lacks."""
    copy = tmp_path / "src"
    shutil.copytree(
        BASE_DIR,
        copy,
        ignore=lambda folder, names: [
            name
            for name in names
            if (Path(folder) == BASE_DIR and name in NOT_SOURCE)
            or name in {"__pycache__", "node_modules"}
            or name.endswith(".pyc")
        ],
    )
    (copy / "locale").mkdir()
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "--locale", "zh_Hans", "--no-location"],
        cwd=copy,
        env={"PATH": os.environ["PATH"], "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    fresh = {_key(entry) for entry in _entries(polib.pofile(str(copy / "locale/zh_Hans/LC_MESSAGES/django.po")))}
    catalog = {_key(entry) for entry in _entries(polib.pofile(str(ZH_PO)))}
    missing = sorted(msgid for _, msgid in fresh - catalog)
    assert not missing, "strings missing from the catalog (run makemessages, see this module's docstring):\n" + (
        "\n".join(f"  {msgid!r}" for msgid in missing)
    )


PAGES = {
    # page: (Chinese text from our catalog, the same text in English)
    "/signin/": ("查看积分、预约兑换奖品、捐赠笔记本。", "Check your points, reserve rewards and donate notebooks."),
    "/admin/login/": ("绿色回收箱", "GreenBox recycling"),
    "/ops/login/": ("运营登录", "Ops sign-in"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("path", sorted(PAGES))
def test_pages_are_in_chinese_by_default_and_when_asked(client, path):
    """Without a preference, or with Accept-Language zh-hans, a page shows our Chinese text."""
    chinese, english = PAGES[path]
    for headers in ({}, {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}, {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}):
        page = client.get(path, **headers).content.decode()
        assert chinese in page, headers
        assert english not in page, headers


@pytest.mark.django_db
@pytest.mark.parametrize("path", sorted(PAGES))
def test_pages_are_in_english_when_asked(client, path):
    """Accept-Language en, or the language cookie set to en, shows the page in English."""
    chinese, english = PAGES[path]
    page = client.get(path, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert english in page
    assert chinese not in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert english in page
    assert chinese not in page

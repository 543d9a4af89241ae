"""A campaign's brands (issue 11, item 1): the one parser of the human syntax and the
one check of a brand list, shared by the store, ``trustmeter campaign create --brand``
and the researcher's "new campaign" form.

A brand is declared as one line (or one ``--brand`` value)::

    acme: Acme                              the same display name in every language
    acme: en=Acme | ru=Акме | fa=آکمه       a display name per language

The slug (before the first ``:``) follows the campaign-slug rule: lower-case letters,
digits or ``-``, starting with a letter or digit. A display name is cleaned like an
open-text answer (:func:`instruments.text.clean_text`: no control characters or bidi
overrides), at most :data:`MAX_NAME_LENGTH` characters. The stored form is
``{"slug": ..., "names": {lang: name}}``, with a name for every campaign language:
a language without its own name falls back to the first language's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from instruments.text import clean_text

#: the campaign-slug style (survey.storage.store.SLUG_RE), kept short for a brand
BRAND_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}\Z")
LANG_RE = re.compile(r"^[a-z]{2,3}\Z")
MAX_NAME_LENGTH = 80
MAX_BRANDS = 100


def _clean_name(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: a display name must be text, got {value!r}")
    name = " ".join(clean_text(value).split())  # one line, single spaces
    if not name:
        raise ValueError(f"{where}: the display name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{where}: the display name has {len(name)} characters; "
            f"at most {MAX_NAME_LENGTH} are allowed"
        )
    return name


def parse_brand(text: str) -> dict:
    """One declaration ``slug: Name`` or ``slug: en=Name | ru=Имя`` -> ``{"slug", "names"}``.

    ``names`` is ``{"*": name}`` for the one-name form (every language). Raises
    ``ValueError`` naming the bad value."""
    if not isinstance(text, str):
        raise ValueError(f"brand {text!r}: expected text such as 'acme: Acme'")
    slug, sep, rest = text.partition(":")
    slug = slug.strip()
    shown = text.strip()
    if not sep:
        raise ValueError(
            f"brand {shown!r}: expected 'slug: Name' or 'slug: en=Name | ru=Имя' (no ':' found)"
        )
    if not BRAND_SLUG_RE.fullmatch(slug):
        raise ValueError(
            f"brand {shown!r}: the slug {slug!r} must be 1-64 lower-case letters, digits "
            "or '-', starting with a letter or digit"
        )
    rest = rest.strip()
    parts = [p.strip() for p in rest.split("|")]
    if len(parts) == 1 and not re.match(r"^[a-z]{2,3}\s*=", parts[0]):
        return {"slug": slug, "names": {"*": _clean_name(parts[0], f"brand {slug!r}")}}
    names: dict[str, str] = {}
    for part in parts:
        lang, eq, name = part.partition("=")
        lang = lang.strip()
        if not eq or not LANG_RE.fullmatch(lang):
            raise ValueError(f"brand {slug!r}: {part!r} is not LANG=Name (e.g. en=Acme | ru=Акме)")
        if lang in names:
            raise ValueError(f"brand {slug!r}: the language {lang!r} is given twice")
        names[lang] = _clean_name(name, f"brand {slug!r} ({lang})")
    return {"slug": slug, "names": names}


def parse_brands(lines: Iterable[str] | str) -> list[dict]:
    """Several declarations: an iterable of values, or one text with one per line
    (blank lines ignored). Slugs must be unique."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    out = [parse_brand(line) for line in lines if isinstance(line, str) and line.strip()]
    seen: set[str] = set()
    for b in out:
        if b["slug"] in seen:
            raise ValueError(f"brand {b['slug']!r} is declared twice")
        seen.add(b["slug"])
    return out


def check_brands(
    brands: Sequence[Mapping] | None, languages: Sequence[str], per_respondent: Any = None
) -> tuple[list[dict], int | None]:
    """A campaign's brand list as stored: ``[{"slug", "names": {lang: name}}]`` with a
    name for every campaign language (others than the first fall back to the first
    language's name), and K (``None``: every brand ticked is rated).

    ``brands`` holds ``{"slug", "names"}`` mappings (``names`` by language, or ``"*"``
    for every language, as :func:`parse_brand` gives) or declaration strings."""
    brands = list(brands or [])
    if not languages:
        raise ValueError("a campaign needs at least one language")
    first = languages[0]
    out: list[dict] = []
    seen: set[str] = set()
    if len(brands) > MAX_BRANDS:
        raise ValueError(f"{len(brands)} brands; at most {MAX_BRANDS} are allowed")
    for b in brands:
        if isinstance(b, str):
            b = parse_brand(b)
        if not isinstance(b, Mapping):
            raise ValueError(f"brand {b!r}: expected {{'slug': ..., 'names': {{lang: name}}}}")
        slug = b.get("slug")
        if not isinstance(slug, str) or not BRAND_SLUG_RE.fullmatch(slug):
            raise ValueError(
                f"brand slug {slug!r} must be 1-64 lower-case letters, digits or '-', "
                "starting with a letter or digit"
            )
        if slug in seen:
            raise ValueError(f"brand {slug!r} is declared twice")
        seen.add(slug)
        raw = b.get("names")
        if isinstance(raw, str):
            raw = {"*": raw}
        if not isinstance(raw, Mapping) or not raw:
            raise ValueError(f"brand {slug!r}: no display name")
        unknown = [k for k in raw if k != "*" and k not in languages]
        if unknown:
            raise ValueError(
                f"brand {slug!r}: a name in {', '.join(map(str, unknown))}, which the "
                f"campaign does not offer ({', '.join(languages)})"
            )
        names = {k: _clean_name(v, f"brand {slug!r} ({k})") for k, v in raw.items()}
        default = names.get("*", names.get(first))
        if default is None:
            raise ValueError(
                f"brand {slug!r}: a display name in {first} (the campaign's first language) "
                "is required"
            )
        out.append({"slug": slug, "names": {lang: names.get(lang, default) for lang in languages}})
    k = per_respondent
    if k is not None and k != "":
        if isinstance(k, str) and k.strip().isdigit():
            k = int(k.strip())
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"brands per respondent must be a whole number ≥ 1, got {k!r}")
        if not out:
            raise ValueError("brands per respondent is set but the campaign declares no brands")
        if k > len(out):
            raise ValueError(
                f"brands per respondent is {k} but the campaign declares {len(out)} brand(s)"
            )
    else:
        k = None
    return out, k


def brand_name(campaign: Mapping, slug: str | None, lang: str) -> str | None:
    """The display name of a campaign's brand in ``lang`` (its first language's name
    if it has none in ``lang``), or ``None`` for no brand or an unknown slug."""
    for b in campaign.get("brands") or ():
        if b["slug"] == slug:
            names = b["names"]
            return names.get(lang) or next(iter(names.values()), None)
    return None


def brand_slugs(campaign: Mapping) -> list[str]:
    return [b["slug"] for b in campaign.get("brands") or ()]


def describe(brands: Sequence[Mapping]) -> str:
    """Brands in the human syntax, ``;``-separated (CLI output, the campaign page)."""
    out = []
    for b in brands:
        names = b["names"]
        if len(set(names.values())) == 1:
            out.append(f"{b['slug']}: {next(iter(names.values()))}")
        else:
            out.append(f"{b['slug']}: " + " | ".join(f"{k}={v}" for k, v in names.items()))
    return "; ".join(out)

"""Security review (issue 14): identifiers end with ``\\Z`` (a trailing newline is
refused), reserved slugs, and dates outside 2000-2200 are clean ``ValueError``s."""

from __future__ import annotations

import pytest
from store_fixtures import small_instrument

from survey.storage import store, tokens, users
from survey.storage.db import connect, init_db, open_db


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "t.db"
    with open_db(path) as d:
        init_db(d, register_builtin=False)
    d = connect(path)
    yield d
    d.close()


@pytest.fixture
def inst(tmp_path):
    return small_instrument(tmp_path)


def create(db, inst, **kw):
    args = dict(slug="c1", instrument=inst, period="2026-Q4")
    args.update(kw)
    return store.create_campaign(db, **args)


@pytest.mark.parametrize("slug", ["x\n", "acme\n", "acme\r\n"])
def test_slug_with_trailing_newline_is_refused(db, inst, slug):
    with pytest.raises(ValueError, match="slug"):
        create(db, inst, slug=slug)
    assert store.get_campaign(db, slug.strip()) is None


@pytest.mark.parametrize("param", ["seg\n", "segment\n"])
def test_param_with_trailing_newline_is_refused(db, inst, param):
    with pytest.raises(ValueError, match="param name"):
        create(db, inst, params=[param])


def test_username_with_trailing_newline_is_refused():
    with pytest.raises(ValueError, match="username"):
        users.check_username("alice\n")
    assert users.check_username("alice") == "alice"


def test_token_name_with_trailing_newline_is_refused(db):
    with pytest.raises(ValueError, match="token name"):
        tokens.create_token(db, "ci\n", "viewer")


@pytest.mark.parametrize(
    "slug", sorted(store.RESERVED_SLUGS) if hasattr(store, "RESERVED_SLUGS") else ["new"]
)
def test_reserved_slugs_are_refused(db, inst, slug):
    with pytest.raises(ValueError, match="reserved"):
        create(db, inst, slug=slug)


@pytest.mark.parametrize(
    "kw",
    [
        {"opens_at": "9999-12-31"},
        {"closes_at": "9999-12-31"},
        {"opens_at": "1999-12-31"},
        {"closes_at": "2201-01-01"},
        {"opens_at": "0001-01-01T00:00:00"},
    ],
)
def test_dates_outside_2000_2200_are_refused(db, inst, kw):
    with pytest.raises(ValueError, match="between 2000 and 2200"):
        create(db, inst, **kw)


def test_dates_at_the_bounds_are_accepted(db, inst):
    c = create(db, inst, opens_at="2000-01-01", closes_at="2200-12-31")
    assert c["opens_at"].startswith("2000-01-01")
    assert c["closes_at"].startswith("2201-01-01")  # end of the inclusive day

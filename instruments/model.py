"""Typed, immutable model of a questionnaire ("instrument").

An instrument is read from YAML by :mod:`instruments.loader`, which validates it
and builds these objects. Everything downstream (the survey forms, the database,
the analysis package, exports) works from this model, never from raw YAML.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .brands import BrandWording, render, templates_of
from .conditions import Condition

Text = Mapping[str, str]  # language code -> text


@dataclass(frozen=True)
class Scale:
    """A response scale of consecutive integer codes ``min..max``.

    ``labels[lang]`` maps a code to its label. A fully labelled scale has a label
    for every code; a scale such as NPS 0-10 may label only its end points.
    """

    min: int
    max: int
    labels: Mapping[str, Mapping[int, str]]
    not_applicable: bool = False
    not_applicable_label: Text = field(default_factory=dict)

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(range(self.min, self.max + 1))

    @property
    def n_points(self) -> int:
        return self.max - self.min + 1

    def label(self, lang: str, code: int) -> str | None:
        return self.labels.get(lang, {}).get(code)

    def reverse(self, value):
        """Reverse-key a value (scalar, array or Series): ``min + max - x``."""
        return self.min + self.max - value


@dataclass(frozen=True)
class Item:
    """One question. ``scale`` is set only for single items with their own scale.

    ``type`` is ``"choice"`` (a code on a scale, or yes/no in the checklist) or
    ``"text"`` (an open answer of at most ``max_length`` characters). Text items are
    kept apart from every numeric path: see :attr:`Instrument.text_items`.
    """

    id: str
    text: Text
    reverse: bool = False
    construct: str | None = None
    rationale: str | None = None
    scale: Scale | None = None
    expected: int | None = None  # attention checks: the instructed answer
    show_if: Condition | None = None  # shown only when true (earlier answers)
    type: str = "choice"  # "choice" | "text"
    max_length: int | None = None  # text items only
    required: bool = False  # text items only: may the answer be left empty

    @property
    def is_text(self) -> bool:
        return self.type == "text"


@dataclass(frozen=True)
class Block:
    """A group of items scored together: a trust dimension, an outcome or a covariate."""

    id: str
    name: Text
    items: tuple[Item, ...]
    kind: str = "dimension"  # "dimension" | "outcome" | "covariate"
    description: Text = field(default_factory=dict)
    show_if: Condition | None = None

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)

    @property
    def in_index(self) -> bool:
        return self.kind == "dimension"


@dataclass(frozen=True)
class Checklist:
    """A yes/no checklist (e.g. trust-breach incidents). Answers are coded 1 = yes, 0 = no."""

    id: str
    prompt: Text
    items: tuple[Item, ...]
    show_if: Condition | None = None

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.items)


@dataclass(frozen=True)
class Instrument:
    id: str
    version: str
    languages: tuple[str, ...]
    title: Text
    scale: Scale
    dimensions: tuple[Block, ...]
    outcomes: tuple[Block, ...] = ()
    covariates: tuple[Block, ...] = ()
    single_items: tuple[Item, ...] = ()  # numeric single items only (never type: text)
    attention_checks: tuple[Item, ...] = ()
    checklist: Checklist | None = None
    pages: tuple[tuple[str, ...], ...] = ()
    #: ``page_show_if[k]``: the condition of ``pages[k]`` (None: always shown)
    page_show_if: tuple[Condition | None, ...] = ()
    #: open-text items (``type: text`` in ``single_items``), in file order. They are
    #: in no numeric list: not in ``item_ids``, ``iter_items``, ``single_items``,
    #: blocks or scores. ``all_item_ids`` lists every question including them.
    text_items: tuple[Item, ...] = ()
    #: ``{brand}`` wording; ``None``: the instrument is not brand-aware
    brand: BrandWording | None = None
    intro: Text = field(default_factory=dict)
    description: str | None = None
    #: the name of the index the dimensions are averaged into (``index: {name: {en: ...}}``
    #: in the YAML), e.g. "Trust Index"; empty when the instrument does not name one
    index_name: Text = field(default_factory=dict)
    source: str | None = None  # the file it was loaded from
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # ----- lookups ---------------------------------------------------------------
    @property
    def blocks(self) -> tuple[Block, ...]:
        return self.dimensions + self.outcomes + self.covariates

    @property
    def dimension_items(self) -> tuple[Item, ...]:
        """Items of the trust dimensions: the ones the index, EFA and CFA use."""
        return tuple(i for b in self.dimensions for i in b.items)

    def index_label(self, lang: str | None = None) -> str | None:
        """The index's name in ``lang`` (else the first language), or ``None`` if unnamed."""
        if not self.index_name:
            return None
        for k in (lang, *self.languages):
            if k and self.index_name.get(k):
                return self.index_name[k]
        return next(iter(self.index_name.values()))

    def title_label(self, lang: str | None = None) -> str:
        """The instrument's title in ``lang`` (else the first language, else its id)."""
        for k in (lang, *self.languages):
            if k and self.title.get(k):
                return self.title[k]
        return next(iter(self.title.values()), self.id)

    @property
    def dimension_item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.dimension_items)

    def scale_for(self, item_id: str) -> Scale | None:
        """The scale an item is answered on (``None`` for checklist items, coded 0/1,
        and for open-text items)."""
        item = self.item(item_id)
        if item.is_text or self.checklist is not None and item in self.checklist.items:
            return None
        return item.scale or self.scale

    def iter_items(self) -> Iterator[Item]:
        """Every item in instrument order: blocks, single items, attention checks, checklist."""
        for b in self.blocks:
            yield from b.items
        yield from self.single_items
        yield from self.attention_checks
        if self.checklist is not None:
            yield from self.checklist.items

    @cached_property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.iter_items())

    @property
    def text_item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for i in self.text_items)

    def iter_all_items(self) -> Iterator[Item]:
        """Every question, numeric and open-text, in page order."""
        for page in self.pages:
            for iid in self.page_item_ids(page):
                yield self.item(iid)

    @property
    def all_item_ids(self) -> tuple[str, ...]:
        """Every question id (numeric and open-text) in page order."""
        return tuple(i.id for i in self.iter_all_items())

    # The lookups below run on every respondent request (show_if is evaluated for
    # every item of every page): they use tables built once per instrument. The
    # instrument is immutable, so the tables never go stale; ``cached_property``
    # stores them in the instance's ``__dict__``, which a frozen dataclass allows
    # and which equality and ``repr`` ignore.
    @cached_property
    def _items_by_id(self) -> dict[str, Item]:
        out: dict[str, Item] = {}
        for i in (*self.iter_items(), *self.text_items):
            out.setdefault(i.id, i)
        return out

    @cached_property
    def _blocks_by_id(self) -> dict[str, Block]:
        out: dict[str, Block] = {}
        for b in self.blocks:
            out.setdefault(b.id, b)
        return out

    @cached_property
    def _block_by_item(self) -> dict[str, Block]:
        out: dict[str, Block] = {}
        for b in self.blocks:
            for i in b.items:
                out.setdefault(i.id, b)
        return out

    def item(self, item_id: str) -> Item:
        """Any item by id, open-text items included."""
        try:
            return self._items_by_id[item_id]
        except (KeyError, TypeError):
            raise KeyError(f"instrument {self.id!r} has no item {item_id!r}") from None

    def block(self, block_id: str) -> Block:
        try:
            return self._blocks_by_id[block_id]
        except (KeyError, TypeError):
            raise KeyError(
                f"instrument {self.id!r} has no dimension/outcome/covariate {block_id!r}"
            ) from None

    def block_of(self, item_id: str) -> Block | None:
        return self._block_by_item.get(item_id)

    @property
    def reversed_item_ids(self) -> tuple[str, ...]:
        return tuple(i.id for b in self.blocks for i in b.items if i.reverse)

    def page_item_ids(self, page: tuple[str, ...]) -> tuple[str, ...]:
        """Expand a page (a tuple of block/item ids) into item ids."""
        cache = self._page_items_cache
        try:
            return cache[page]
        except (KeyError, TypeError):
            pass
        out = self._expand_page(page)
        try:
            cache[page] = out
        except TypeError:  # an unhashable page (a list): not cached
            pass
        return out

    @cached_property
    def _page_items_cache(self) -> dict[tuple[str, ...], tuple[str, ...]]:
        return {}

    def _expand_page(self, page: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for ref in page:
            if self.checklist is not None and ref == self.checklist.id:
                out.extend(self.checklist.item_ids)
                continue
            try:
                out.extend(self.block(ref).item_ids)
            except KeyError:
                out.append(self.item(ref).id)
        return tuple(out)

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    # ----- brands ------------------------------------------------------------------
    @property
    def brand_aware(self) -> bool:
        """Whether texts may name a campaign's brand (``{brand}``; see instruments.brands)."""
        return self.brand is not None

    def render(self, text: Text, lang: str, brand: str | None = None) -> str:
        """One per-language text in ``lang`` with ``{brand}`` filled in: the brand's
        display name in ``lang``, or ``None`` for the neutral wording ("this company").

        ``text[lang]`` itself is already the neutral wording (see
        :class:`instruments.brands.BrandText`); this fills in a brand."""
        return render(templates_of(text)[lang], lang, brand, self.brand)

    def item_text(self, item_id: str, lang: str, brand: str | None = None) -> str:
        """An item's text in ``lang`` for a brand (``None``: the neutral wording)."""
        return self.render(self.item(item_id).text, lang, brand)

    # ----- show_if -----------------------------------------------------------------
    @cached_property
    def _page_by_item(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for k, page in enumerate(self.pages):
            for i in self.page_item_ids(page):
                out.setdefault(i, k)
        return out

    def page_of(self, item_id: str) -> int:
        """The index in ``pages`` of the page an item is on."""
        try:
            return self._page_by_item[item_id]
        except (KeyError, TypeError):
            raise KeyError(f"instrument {self.id!r} has no item {item_id!r} on a page") from None

    @cached_property
    def _conditions_cache(self) -> dict[str, tuple[Condition, ...]]:
        return {}

    def conditions_for(self, item_id: str) -> tuple[Condition, ...]:
        """Every condition an item is shown under: its page's, its block's or the
        checklist's, and its own (all must hold)."""
        cache = self._conditions_cache
        if item_id not in cache:
            cache[item_id] = self._conditions_of(item_id)
        return cache[item_id]

    def _conditions_of(self, item_id: str) -> tuple[Condition, ...]:
        out: list[Condition | None] = []
        if self.page_show_if:
            out.append(self.page_show_if[self.page_of(item_id)])
        block = self.block_of(item_id)
        if block is not None:
            out.append(block.show_if)
        elif self.checklist is not None and item_id in self.checklist.item_ids:
            out.append(self.checklist.show_if)
        out.append(self.item(item_id).show_if)
        return tuple(c for c in out if c is not None)

    def is_shown(self, item_id: str, answers: Mapping[str, Any]) -> bool:
        """Whether an item is shown, given the answers so far (item id -> code)."""
        return all(c.evaluate(answers) for c in self.conditions_for(item_id))

    def page_is_shown(self, index: int, answers: Mapping[str, Any]) -> bool:
        """Whether page ``index`` shows at least one item, given the answers so far."""
        return bool(self.shown_item_ids(index, answers))

    def shown_item_ids(self, index: int, answers: Mapping[str, Any]) -> tuple[str, ...]:
        """The items of page ``index`` that are shown, given the answers so far."""
        return tuple(i for i in self.page_item_ids(self.pages[index]) if self.is_shown(i, answers))

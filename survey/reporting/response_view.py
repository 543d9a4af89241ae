"""One response as a researcher sees it (issue 11, item 4): its answers with their
labels, its quality flags and its timings, for ``trustmeter response show`` and the
researcher page of one response.

Never shown: the invitation token (it is not stored; only its hash is), the contact it
was sent to, or anything that links the response to a person.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from sqlite_utils import Database

from survey.storage import item_states, store

#: The states of an item in one response.
ANSWERED, NOT_APPLICABLE, NOT_ANSWERED = "answered", "not applicable", "not answered"
NOT_SHOWN = "not shown"  # its show_if was false: never asked


@dataclass
class ItemAnswer:
    item: str
    text: str
    state: str
    code: int | None = None
    label: str | None = None
    answer_text: str | None = None  # open-text items (``type: text``)


@dataclass
class ResponseView:
    id: int
    campaign: str
    period: str
    status: str
    language: str
    via: str  # "invitation" or "public link"
    started_at: str
    completed_at: str | None
    duration_s: float | None
    params: dict
    flags: list
    longstring: int | None
    irv: float | None
    attention_passed: bool | None
    instrument: str
    items: list[ItemAnswer] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def response_view(db: Database, response_id: int, *, lang: str = "en") -> ResponseView:
    """The response ``response_id`` with every item of its instrument, in instrument
    order, texts and labels in ``lang`` (falling back to the instrument's first
    language). Raises ``LookupError`` for an unknown id."""
    r = store.get_response(db, response_id)
    campaign = store.get_campaign(db, r["campaign"])
    inst = store.campaign_instrument(db, campaign)
    use = lang if lang in inst.languages else inst.languages[0]
    na = set(r["na"])
    hidden = set(item_states.not_shown_of(db, response_id))
    texts = item_states.texts_of(db, response_id)
    items = []
    for item_id in inst.all_item_ids or inst.item_ids:
        item = inst.item(item_id)
        text = (
            inst.item_text(item_id, use) if use in item.text else next(iter(item.text.values()), "")
        )
        code = r["answers"].get(item_id)
        if item_id in hidden:
            items.append(ItemAnswer(item_id, text, NOT_SHOWN))
        elif item.is_text:
            value = texts.get(item_id)
            items.append(
                ItemAnswer(item_id, text, ANSWERED if value else NOT_ANSWERED, answer_text=value)
            )
        elif code is not None:
            scale = inst.scale_for(item_id)
            if scale is None:  # checklist
                label = {1: "yes", 0: "no"}.get(code)
            else:
                label = scale.label(use, code)
            items.append(ItemAnswer(item_id, text, ANSWERED, code, label))
        elif item_id in na:
            items.append(ItemAnswer(item_id, text, NOT_APPLICABLE))
        else:
            items.append(ItemAnswer(item_id, text, NOT_ANSWERED))
    return ResponseView(
        id=r["id"],
        campaign=r["campaign"],
        period=r["period"],
        status=r["status"],
        language=r["language"],
        via="invitation" if r["invitation_id"] else "public link",
        started_at=r["started_at"],
        completed_at=r["completed_at"],
        duration_s=r["duration_s"],
        params=dict(r["params"]),
        flags=list(r["flags"]),
        longstring=r["longstring"],
        irv=r["irv"],
        attention_passed=r["attention_passed"],
        instrument=inst.key,
        items=items,
    )

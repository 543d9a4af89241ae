"""The HTML of unanswered questions, rendered once and reused.

A question's fieldset (legend, a radio and label per answer, the scale's end labels)
is most of a questionnaire page, and rendering it through the Jinja macros was the
largest part of a page view's server time. For a question with no answer and no
error its HTML depends only on what :func:`_key` lists (the page language, the
field's id, name, kind and label, and every option's value, code and label), so it
is rendered once per key and reused. A question with an answer (a page seen again,
Back) or an error is always rendered afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from markupsafe import Markup

from survey.web.i18n import current_language
from survey.web.respondent.views import bp

_CACHE: dict[tuple, Markup] = {}
_MAX = 4096  # items x languages x brands; cleared when full
_lock = threading.Lock()


def _key(field) -> tuple:
    return (
        current_language(),
        type(field).__name__,
        getattr(field, "kind", None),
        field.id,
        field.name,
        str(field.label.text),
        tuple((o.value, o.code, str(o.label)) for o in getattr(field, "options", ())),
        getattr(field, "max_length", None),
        getattr(field, "required", None),
    )


@bp.app_template_global("cached_question")
def cached_question(field, render: Callable) -> Markup:
    """``render(field)``, from the cache when the field is unanswered and valid."""
    if field.errors or field.value:
        return render(field)
    key = _key(field)
    html = _CACHE.get(key)
    if html is None:
        html = Markup(render(field))
        with _lock:
            if len(_CACHE) >= _MAX:
                _CACHE.clear()
            _CACHE[key] = html
    return html

"""A small instrument for the storage, CLI and demo tests (independent of the
built-in ``customer-trust`` questionnaire, which may change)."""

from __future__ import annotations

from pathlib import Path

from instruments.loader import load_instrument
from instruments.model import Instrument

SMALL_YAML = """\
id: mini-trust
version: "1.0.0"
languages: [en, fa]
title: {en: Mini trust, fa: اعتماد}
scale:
  min: 1
  max: 5
  labels:
    en: [Strongly disagree, Disagree, Neutral, Agree, Strongly agree]
    fa: [کاملا مخالفم, مخالفم, نظری ندارم, موافقم, کاملا موافقم]
  not_applicable: true
  not_applicable_label: {en: Does not apply, fa: صدق نمی‌کند}
dimensions:
  - id: REL
    name: {en: Reliability, fa: قابلیت اطمینان}
    items:
      - {id: REL1, text: {en: They deliver, fa: تحویل می‌دهند}, construct: ability}
      - {id: REL2, text: {en: They are on time, fa: به موقع}, construct: ability}
      - {id: REL3, text: {en: They break things, fa: خراب}, reverse: true, construct: ability}
  - id: HON
    name: {en: Honesty, fa: صداقت}
    items:
      - {id: HON1, text: {en: They are honest, fa: صادق}, construct: integrity}
      - {id: HON2, text: {en: They keep promises, fa: وعده}, construct: integrity}
      - {id: HON3, text: {en: They hide fees, fa: هزینه}, reverse: true, construct: integrity}
outcomes:
  - id: LOY
    name: {en: Loyalty, fa: وفاداری}
    items:
      - {id: LOY1, text: {en: I will buy again, fa: دوباره}, construct: outcome}
      - {id: LOY2, text: {en: I recommend them, fa: توصیه}, construct: outcome}
single_items:
  - id: NPS
    text: {en: "How likely to recommend?", fa: "چقدر احتمال دارد؟"}
    scale:
      min: 0
      max: 10
      labels: {en: {0: Not at all, 10: Extremely}, fa: {0: اصلا, 10: کاملا}}
attention_checks:
  - {id: ATT1, text: {en: Select Agree, fa: موافقم را انتخاب کنید}, expected: 4}
checklist:
  id: BREACH
  prompt: {en: "Did this happen?", fa: "آیا این اتفاق افتاد؟"}
  items:
    - {id: BR1, text: {en: Overcharged, fa: اضافه}}
    - {id: BR2, text: {en: Data leak, fa: نشت}}
"""


def small_instrument(tmp_path: Path, *, version: str = "1.0.0") -> Instrument:
    """Write the small instrument to ``tmp_path`` and load it."""
    path = tmp_path / f"mini-trust-{version}.yaml"
    path.write_text(
        SMALL_YAML.replace('version: "1.0.0"', f'version: "{version}"'), encoding="utf-8"
    )
    return load_instrument(path)

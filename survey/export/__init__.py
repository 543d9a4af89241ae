"""Labelled exports of a campaign's responses, with codebook and manifest."""

from survey.export.core import (  # noqa: F401
    _META_LABELS,
    _NA_LABEL,
    _YES_NO,
    FORMATS,
    NA_CODE,
    STREAMED_FORMATS,
    ExportResult,
    _CsvWriter,
    dimension_scores,
    export_campaign,
    trustmeter_version,
)

"""Labelled exports of a campaign's responses, with codebook and manifest."""

from survey.export.core import (  # noqa: F401
    FORMATS,
    NA_CODE,
    STREAMED_FORMATS,
    ExportResult,
    _CsvWriter,
    dimension_scores,
    export_campaign,
    trustmeter_version,
)

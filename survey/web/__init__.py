"""The web tier: respondent and researcher blueprints, i18n and HTTP security."""

"""Reporting: the dashboard's live campaign statistics and the periodic Trust Index report."""

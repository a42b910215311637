"""Recorded Temporal histories of real cases (replay fixtures); regenerate with record.py."""

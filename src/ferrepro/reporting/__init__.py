"""Reporting: tables and figures across runs."""

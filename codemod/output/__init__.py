"""Rendering a plan for people and machines: diagnostics, the report, noqa comments, rule docs."""

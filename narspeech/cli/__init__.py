"""Typer command groups; each module is thin: parse, call the library, report."""

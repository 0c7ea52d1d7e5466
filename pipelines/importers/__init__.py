"""Importers: public rubric benchmarks and spreadsheet-authored tasks to schema 1.1 submission files.

Dagster-free; `xpertbench import ...` (pipelines/cli/importer.py) only wires them to the command line.
"""

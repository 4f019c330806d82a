"""Data: sources that write raw files, parsers of each raw format, cleaning, splits, schemas."""

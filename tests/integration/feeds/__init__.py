"""The file feeds against the real data in ../shared/data."""

"""The project's own corpus builders (run as scripts; the text they write is not committed)."""

"""The personal store: one SQLite database per user (database.py), the grams a text
yields (grams.py), and learning megabytes at once (bulk_learn.py). NumPy at most."""

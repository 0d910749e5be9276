"""Text rules shared by every side: the word tokenizer, casing, reading corpus files.
Stdlib and tokenizers only."""

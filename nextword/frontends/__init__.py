"""What users drive: the REPL (`complete`), the language server (`lsp`) and `evaluate`.
Users of the prediction side; never TensorFlow."""

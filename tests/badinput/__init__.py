"""Bad-input corpus: broken configs, mappings and sequence files through the real CLI."""

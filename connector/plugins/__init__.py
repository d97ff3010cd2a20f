"""Plugins that ship with seqsync (examples of the plugin API)."""

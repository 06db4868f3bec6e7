"""The app proxy: serves each opened app of a session on a port from a pool."""

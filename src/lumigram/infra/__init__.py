"""Adapters for the four ports: database, blob store, cache, event bus."""

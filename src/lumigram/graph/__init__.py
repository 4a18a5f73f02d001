"""The follow graph: follows, follow requests, blocks and mutes (no HTTP in here)."""

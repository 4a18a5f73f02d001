"""The read side: rendered pages kept between reads, and the fast paths that answer them.

A home timeline or profile page is rendered once and kept (``store``) until a write
that changes it forgets it; stale pages are brought current post by post (``recheck``,
``fingerprints``). The fast paths (``home_fast_path``, ``profile_fast_path``) answer a
kept page before the framework, with a token checked from the auth cache (``grants``).
Nothing here writes domain state: every page can be rendered again from the database.
"""

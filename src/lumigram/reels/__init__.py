"""Reels: the ranked feed of vertical videos and the counting of how they are watched."""

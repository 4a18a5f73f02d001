"""Stories: photos and videos shown for 24 hours, their viewers, replies, highlights and close friends."""

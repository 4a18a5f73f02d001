"""Stories: photos and videos shown for 24 hours, their viewers, replies and highlights; their
close-friends audience is the list marked so (``lumigram.lists``)."""

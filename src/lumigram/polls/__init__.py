"""Polls on posts: made with the post, voted in once, closed by the worker, which tells the
owner and every voter."""

"""Direct messages: threads (1:1 and groups), their messages, requests and read state."""

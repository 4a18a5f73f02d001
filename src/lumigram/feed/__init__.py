"""The feed service: home feeds kept in the cache port, fanned out on write, merged on read."""

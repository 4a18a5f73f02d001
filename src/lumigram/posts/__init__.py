"""The post service: statuses with their photos, hashtags and mentions (no HTTP here)."""

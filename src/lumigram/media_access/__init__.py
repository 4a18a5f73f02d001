"""Media delivery: URLs for stored blobs, signed and expiring where the media is private."""

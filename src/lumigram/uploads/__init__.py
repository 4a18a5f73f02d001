"""Media uploads: accept a file, check it by its content, make the stored variants."""

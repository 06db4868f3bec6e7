"""Storage folders: folder hosts, confined file operations, streamed zips, HTTP ranges."""

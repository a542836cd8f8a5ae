"""instapipe: keep, spread and serve one's own Instagram Stories."""

"""Local servers that speak the wire formats of the services instapipe cannot reach
here (Instagram, its CDN, Telegram), used by the tests and by `make run`."""

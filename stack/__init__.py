"""The local stack: emulators, stand-in servers and the runner behind `make run`."""

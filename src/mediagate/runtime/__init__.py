"""The composition root below HTTP: the wired-up ``context.Runtime`` every request and command
works with, and the background work a server process runs."""

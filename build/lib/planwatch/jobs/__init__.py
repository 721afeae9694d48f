"""The work a worker does on schedule; each job is a coroutine built from `JobDeps`."""

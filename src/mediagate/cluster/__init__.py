"""What several processes of one deployment share: the invalidation channel (Redis), concurrency
slots counted across processes, and the registry of running processes."""

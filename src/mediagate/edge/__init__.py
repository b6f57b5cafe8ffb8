"""The two media hosts: secured (signed, expiring URLs) and public (legacy media)."""

"""The periodic access review's jobs."""

"""The merchants domain's jobs: the automated review of a submitted application."""

"""The merchants domain's jobs: the automated review of a submitted application
(``actors``) and the agreement's re-acceptance (``agreements``)."""

"""The tenant's own settings: name, locale, currency and time zone."""

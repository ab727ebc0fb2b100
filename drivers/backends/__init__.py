"""Board backends chosen by URL: sim://, dahdi://."""

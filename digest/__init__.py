"""digest stage of kept (see README)."""

"""daemon stage of kept (see README)."""

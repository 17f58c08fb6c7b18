"""Mail sources (where kept reads mail) and, later, senders (how the digest leaves)."""

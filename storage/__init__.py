"""Where kept remembers what it has read and found."""

"""What a person watching a run sees."""

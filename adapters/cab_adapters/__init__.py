"""cab's built-in agent adapters and agent plugins, loaded through the ``cab`` entry points."""

"""What a notebook cell means and how it runs as a step: scoping (cells), versions, replay,
the step cells, the session (the life of a ``%%step`` cell), the view, staleness."""

"""Everything that touches the world, grouped by what it touches (database, calendar, files)."""

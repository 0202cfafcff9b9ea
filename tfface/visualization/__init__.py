"""Pictures for people: text labels on image grids."""

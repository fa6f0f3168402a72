"""Records from DUO's registers, imported from JSON Lines (README: "Importing records")."""

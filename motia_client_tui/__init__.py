"""motia-tui: a live terminal view of Motia todo and AI-message streams."""

"""motia-tui: a live terminal view of Motia todo and AI-message streams.

Run it as ``motia-tui`` (see ``motia-tui --help``). The modules: ``cli``
(options and ``main``), ``app`` (the Textual app), ``widgets`` (the table,
the connection line, the AI panel, the log), ``rows`` (columns and the table
diff, as pure code) and ``motia_tui.tcss`` (the look).
"""

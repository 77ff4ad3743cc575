"""Review: the append-only decision log, replay, the queue, the session (durable decisions, undo/redo, add/delete),
the shared keymap, navigation and click-to-add marking."""

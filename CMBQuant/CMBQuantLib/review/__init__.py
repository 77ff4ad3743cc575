"""Review: the append-only decision log, replay, the queue, the session (durable decisions, undo/redo, add/delete),
its sync to the scene and files, the shared keymap and key state machine, and the UI-free review controller that
Slicer and the web bind; navigation and click-to-add marking."""

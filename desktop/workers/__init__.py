"""The worker pool: runs queued tasks on a QThreadPool. It may use QtCore, never widgets."""

"""Data sources: `[[sources]]` HTTP endpoints fetched on a schedule into new dataset versions."""

"""Route declarations, one module per resource; each exports `ROUTES`."""

"""The web dashboard under /ui: static pages that read and drive the /v1 API in the browser."""

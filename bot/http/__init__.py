"""The HTTP face: routes declared once (router and OpenAPI from one table), auth, limits,
errors, SSE, webhooks, metrics.
"""

"""/docs: the OpenAPI document rendered server-side as plain HTML (no scripts, no CDN)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
code,pre{font:13px ui-monospace,monospace}pre{background:#f5f5f5;padding:.5rem;overflow:auto}
.op{border-top:1px solid #ddd;padding:.5rem 0}.m{font-weight:bold;display:inline-block;width:5rem}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
"""


def render_docs(doc: dict[str, Any]) -> str:
    """Every operation (parameters, body, responses), then every schema."""
    info = doc.get("info", {})
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{escape(info.get('title', 'API'))}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(info.get('title', 'API'))} {escape(info.get('version', ''))}</h1>",
        f"<p>{escape(info.get('description', ''))}</p>",
        "<p>Send <code>Authorization: Bearer &lt;token&gt;</code> on every request except "
        "where noted. The machine-readable document is <a href='/openapi.json'>/openapi.json"
        "</a>.</p><h2>Operations</h2>",
    ]
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            parts.append(_operation(method, path, op))
    parts.append("<h2>Schemas</h2>")
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        parts.append(f"<h3 id='{escape(name)}'>{escape(name)}</h3>{_schema_table(schema)}")
    parts.append("</body></html>")
    return "\n".join(parts)


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    auth = " (no token)" if op.get("security") == [] else ""
    if op.get("security") and op["security"] != [{"bearer": []}]:
        auth = " (the hook's own secret)"
    html = [
        f"<div class='op'><span class='m'>{method.upper()}</span><code>{escape(path)}</code>"
        f" — {escape(op.get('summary', ''))}{auth}",
        f"<p>{escape(op.get('description', ''))}</p>",
    ]
    if op.get("parameters"):
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{p['in']}</td>"
            f"<td>{escape(_type(p.get('schema', {})))}</td>"
            f"<td>{escape(p.get('description', ''))}</td></tr>"
            for p in op["parameters"]
        )
        html.append(
            f"<table><tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>{rows}</table>"
        )
    for media, body in op.get("requestBody", {}).get("content", {}).items():
        html.append(f"<p>Body ({escape(media)}): {_link(body.get('schema', {}))}</p>")
    answers = ", ".join(
        f"{escape(status)} {_link(_first_schema(r))}" for status, r in op["responses"].items()
    )
    html.append(f"<p>Answers: {answers}</p></div>")
    return "\n".join(html)


def _schema_table(schema: dict[str, Any]) -> str:
    props = schema.get("properties")
    if not props:
        return f"<pre>{escape(json.dumps(schema, indent=1))}</pre>"
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code>{'' if name in required else '?'}</td>"
        f"<td>{_link(prop)}</td><td>{escape(prop.get('description', ''))}</td></tr>"
        for name, prop in props.items()
    )
    doc = escape(schema.get("description", ""))
    return f"<p>{doc}</p><table><tr><th>field</th><th>type</th><th></th></tr>{rows}</table>"


def _link(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref")
    if ref:
        name = escape(ref.rsplit("/", 1)[-1])
        return f"<a href='#{name}'>{name}</a>"
    return escape(_type(schema))


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    return str(schema.get("type", "any"))


def _first_schema(response: dict[str, Any]) -> dict[str, Any]:
    for media in response.get("content", {}).values():
        schema: dict[str, Any] = media.get("schema", {})
        return schema
    return {}

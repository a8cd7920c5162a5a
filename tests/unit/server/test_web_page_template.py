"""The page template is filled from the server's settings: escaped model name, slider start value."""

from __future__ import annotations

from inference_server.config import ServerConfig
from inference_server.rest.pages import WEB_DIR, render_page

TEMPLATE = (WEB_DIR / "index.html").read_text(encoding="utf-8")


def test_model_name_is_html_escaped_in_the_page():
    page = render_page(TEMPLATE, ServerConfig(model_uri="unused", model_name='<script>alert("x")</script>'))
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "{{MODEL_NAME}}" not in page


def test_slider_starts_at_the_servers_score_threshold():
    page = render_page(TEMPLATE, ServerConfig(model_uri="unused", score_threshold=0.35))
    assert '<meta name="score-threshold" content="0.35">' in page
    assert "{{SCORE_THRESHOLD}}" not in page

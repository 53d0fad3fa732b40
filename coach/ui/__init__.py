"""The Gradio app: a thin adapter over the library (see app.py for the page and its tabs)."""

from coach.ui.app import build_app, serve

__all__ = ["build_app", "serve"]

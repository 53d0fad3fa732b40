"""Thin Gradio adapter: `python app.py` launches the coach's web app on 127.0.0.1."""

import coach  # noqa: F401  (sets the offline environment before gradio loads)
from coach.config import load_config
from coach.ui import build_app, serve

__all__ = ["build_app"]

if __name__ == "__main__":
    serve(load_config())

"""Interview Coach: a local, offline, RAG-powered coach for LLM engineering interviews.

Importing the package is cheap (no torch, faiss, llama_cpp or gradio) and sets the offline
environment variables before any of those libraries can load.
"""

from coach import offline

offline.enforce()

__version__ = "0.1.0"

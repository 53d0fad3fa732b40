"""The text layer of a PDF, through pypdf (imported here only, so importing coach stays cheap).

Pages are joined by blank lines, so a page break is a paragraph break for the sectioner. Leaves
out: OCR (a scanned PDF is refused with a message saying so), layout, and headings (a PDF's
outline rarely matches its text reliably enough to cut spans from).
"""

from __future__ import annotations

import io
import logging

from coach.errors import BadInput


def extract_pdf(name: str, data: bytes) -> str:
    """All pages' text; BadInput naming the file `name` if pypdf cannot read it or it has no
    text layer."""
    from pypdf import PdfReader

    # pypdf logs every tolerated defect as a warning; one bad file should not flood stderr.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise BadInput(
                f"{name} is password-protected. Fix: save an unprotected copy and add that."
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except BadInput:
        raise
    # pypdf reports malformed files with many exception types (PdfReadError, but also
    # ValueError, KeyError, TypeError...); every one of them means "this file cannot be read".
    except Exception as exc:  # noqa: BLE001
        reason = str(exc) or type(exc).__name__
        raise BadInput(
            f"{name} could not be read as a PDF (pypdf: {reason}). Fix: re-export or re-save it "
            "as PDF, or save its text as .txt and add that."
        ) from exc
    if not any(page.strip() for page in pages):
        raise BadInput(
            f"{name} has no text layer ({len(pages)} page(s)): it looks scanned. Fix: run OCR "
            "on it first (for example `ocrmypdf in.pdf out.pdf`) and add the result."
        )
    # NUL characters come from broken font maps; they carry no text.
    return "\n\n".join(page.replace("\x00", "").strip() for page in pages)

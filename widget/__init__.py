"""Browser-side files served by `siwi serve`: the demo pages in static/, and the chat widget that
`npm run build` bundles from src/ into dist/siwi.js (see docs/widget.md)."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
WIDGET_DIR = Path(__file__).parent
BUNDLE = WIDGET_DIR / "dist" / "siwi.js"

# The staff workspace (/staff): one page whose script and stylesheet `npm run build` bundles into dist/.
STAFF_PAGE = WIDGET_DIR / "staff" / "index.html"
STAFF_ASSETS = {"staff.js": "text/javascript; charset=utf-8", "staff.css": "text/css; charset=utf-8"}

"""``python -m hypercare_contracts.asyncapi [FILE]``: write the AsyncAPI document (stdout by default)."""

import json
import sys
from pathlib import Path

from hypercare_contracts.catalog import asyncapi_document


def render() -> str:
    """The document as stable, indented JSON."""
    return json.dumps(asyncapi_document(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write the document to the file named in ``argv`` or to stdout."""
    text = render()
    if argv:
        Path(argv[0]).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The OpenAPI document: FastAPI's, with each webhook's request body described by its contract models.

The handlers read the raw body themselves (they must publish the exact bytes and bound the size while
streaming), so FastAPI cannot infer the body; the schemas come from the contract models instead.

``python -m hypercare_gateway.openapi docs/openapi.json`` rewrites the committed document.
"""

import json
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from hypercare_contracts.raw import RawModel
from pydantic.json_schema import models_json_schema

_REF = "#/components/schemas/{model}"


def request_body(models: tuple[type[RawModel], ...]) -> dict[str, Any]:
    """The ``openapi_extra`` describing a JSON body that is one of ``models``."""
    refs = [{"$ref": _REF.format(model=m.__name__)} for m in models]
    schema = refs[0] if len(refs) == 1 else {"oneOf": refs}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def install_openapi(app: FastAPI, models: tuple[type[RawModel], ...]) -> None:
    """Make ``app.openapi()`` include the schemas of ``models`` (and the models they use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            _, defs = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(defs.get("$defs", {}))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise


def render(app: FastAPI) -> str:
    """The document as committed: indented JSON with a final newline."""
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> None:
    """Write the gateway's OpenAPI document to the path given (``-`` for stdout)."""
    from hypercare_gateway.app import create_app  # noqa: PLC0415 - the app module imports this one
    from hypercare_gateway.settings import GatewaySettings  # noqa: PLC0415

    text = render(create_app(GatewaySettings()))
    target = argv[0] if argv else "-"
    if target == "-":
        sys.stdout.write(text)
    else:
        Path(target).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])

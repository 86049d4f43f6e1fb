"""The component map: resolution order, the shipped policy file, and bad policy files."""

from collections.abc import Mapping
from pathlib import Path

import pytest
from hypercare_domain.normalize import ComponentMap, ComponentPolicy, ComponentRule, load_component_map
from hypercare_domain.policy import PolicyError

from tests.factories.policy import POLICY_DIR

pytestmark = pytest.mark.unit

MAP = ComponentMap(
    ComponentPolicy(
        components={
            "checkout": ComponentRule(
                labels=["checkout-*"], product_areas=["cart"], screens=["/checkout*"], keywords=["checkout"]
            ),
            "payments": ComponentRule(
                labels=["payments"],
                product_areas=["billing"],
                screens=["/pay*"],
                keywords=["refund", "charged"],
            ),
            "login": ComponentRule(labels=["auth"], keywords=["sign in", "password"]),
        }
    )
)


def resolve(
    *,
    labels: Mapping[str, str] | None = None,
    product_area: str | None = None,
    screen: str | None = None,
    text: str = "",
    tags: tuple[str, ...] = (),
) -> str:
    return MAP.resolve(labels=labels or {}, product_area=product_area, screen=screen, text=text, tags=tags)


@pytest.mark.parametrize(
    ("kwargs", "component"),
    [
        ({"labels": {"service": "checkout-api"}}, "checkout"),
        ({"labels": {"job": "PAYMENTS"}}, "payments"),
        ({"labels": {"component": "auth", "service": "checkout-api"}}, "login"),
        ({"labels": {"service": "checkout-api"}, "product_area": "billing"}, "checkout"),
        ({"product_area": "Billing", "screen": "/checkout"}, "payments"),
        ({"tags": ("vip", "cart"), "screen": "/pay"}, "checkout"),
        ({"screen": "/checkout/step-2", "text": "refund please"}, "checkout"),
        ({"screen": "/payment", "text": "checkout"}, "payments"),
        ({"text": "I was charged but got no refund at checkout"}, "payments"),
        ({"text": "cannot sign   in at checkout, password rejected"}, "login"),
        ({"text": "cannot sign in at checkout"}, "checkout"),
        ({"text": "checkout"}, "checkout"),
        ({"text": "checkouts and rechecking"}, "unknown"),
        ({"labels": {"service": "inventory"}, "screen": "/home", "text": "hello"}, "unknown"),
    ],
)
def test_resolution_order(kwargs: dict[str, object], component: str) -> None:
    assert resolve(**kwargs) == component  # type: ignore[arg-type]


def test_the_shipped_component_map_loads_and_names_the_core_components() -> None:
    shipped = load_component_map(POLICY_DIR)
    assert {
        "checkout",
        "payments",
        "login",
        "search",
        "notifications",
        "profile",
        "onboarding",
        "settings",
    } <= set(shipped.names)
    assert (
        shipped.resolve(labels={"service": "auth-gateway"}, product_area=None, screen=None, text="")
        == "login"
    )
    assert shipped.resolve(labels={}, product_area=None, screen="/checkout/payment", text="") == "checkout"
    assert shipped.resolve(labels={}, product_area=None, screen=None, text="Push notifications stopped") == (
        "notifications"
    )


@pytest.mark.parametrize(
    ("content", "in_message"),
    [
        ("components:\n  checkout:\n    keyword: [checkout]\n", "components.checkout.keyword"),
        ("components:\n  unknown:\n    keywords: [x]\n", "reserved"),
        ("components:\n  Check Out:\n    keywords: [x]\n", "lowercase slug"),
        ("components: {}\n", "components"),
        ("components: [\n", "not valid YAML"),
    ],
)
def test_a_bad_policy_file_is_refused_naming_file_and_field(
    tmp_path: Path, content: str, in_message: str
) -> None:
    (tmp_path / "components.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_component_map(tmp_path)
    assert "components.yaml" in str(caught.value)
    assert in_message in str(caught.value)


def test_a_missing_policy_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="missing"):
        load_component_map(tmp_path)

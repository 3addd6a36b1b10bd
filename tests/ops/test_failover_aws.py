"""The boto3 client factory (retries, timeouts, endpoints) and the error classification of the runbooks."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from failover_support import FakeClock, make_clock
from hakit.ops.aws import (
    Boto3ClientFactory,
    describe_error,
    is_throttling,
    is_transient,
    region_of_arn,
    resource_of_arn,
    retry_throttled,
)


def client_error(code: str, status: int = 400, message: str = "m") -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op"
    )


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")


def test_factory_configures_retries_timeouts_and_endpoints() -> None:
    factory = Boto3ClientFactory(retry_mode="standard", max_attempts=5, endpoint_url="http://127.0.0.1:5000")
    rds = factory.rds("us-west-2")
    assert rds is factory.rds("us-west-2")  # cached
    assert rds.meta.region_name == "us-west-2"
    assert rds.meta.endpoint_url == "http://127.0.0.1:5000"
    assert rds.meta.config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert factory.route53().meta.region_name == "us-east-1"
    assert factory.arc_config().meta.region_name == "us-west-2"

    arc = factory.arc_cluster("https://host-1.us-east-1.example.com/v1", "us-east-1")
    # The data plane always uses the cluster endpoint, fails fast, and is not sent to the emulator URL.
    assert arc.meta.endpoint_url == "https://host-1.us-east-1.example.com/v1"
    assert arc.meta.config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert arc.meta.config.connect_timeout == 2.0
    assert factory.arc_cluster("https://host-2.eu-west-1.example.com/v1", "eu-west-1") is not arc


def test_error_classification() -> None:
    assert is_throttling(client_error("Throttling")) and is_transient(client_error("Throttling"))
    assert is_transient(client_error("Whatever", status=503))
    assert is_transient(client_error("EndpointTemporarilyUnavailableException"))
    assert is_transient(EndpointConnectionError(endpoint_url="https://x"))
    assert is_transient(ReadTimeoutError(endpoint_url="https://x"))
    assert not is_transient(client_error("ValidationException"))
    assert not is_throttling(EndpointConnectionError(endpoint_url="https://x"))
    assert describe_error(client_error("AccessDenied", message=" no\n")) == "AccessDenied: no"


def test_retry_throttled_backs_off_then_gives_up() -> None:
    clock = FakeClock()
    attempts: list[int] = []

    def throttled() -> str:
        attempts.append(1)
        raise client_error("ThrottlingException")

    with pytest.raises(ClientError):
        retry_throttled(throttled, make_clock(clock), attempts=4, base_delay=1, max_delay=3)
    assert len(attempts) == 4
    assert clock.sleeps == [1, 2, 3]

    with pytest.raises(ClientError):  # other errors are not retried
        retry_throttled(lambda: (_ for _ in ()).throw(client_error("ValidationException")), make_clock(clock))
    assert clock.sleeps == [1, 2, 3]


def test_arn_parts() -> None:
    arn = "arn:aws:rds:eu-central-1:123456789012:cluster:orders-eu"
    assert (region_of_arn(arn), resource_of_arn(arn)) == ("eu-central-1", "orders-eu")
    with pytest.raises(ValueError, match="not an ARN"):
        region_of_arn("orders-eu")

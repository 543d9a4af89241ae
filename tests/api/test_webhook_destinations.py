"""Where webhooks may be sent (server-side request forgery).

A researcher chooses a webhook's URL, and the worker then makes requests from inside
the installation's network. Link-local (cloud metadata at 169.254.169.254),
unspecified, multicast and reserved addresses are never a destination; loopback and
private networks are refused with ``TRUSTMETER_WEBHOOK_LOCAL=deny``; addresses in
``TRUSTMETER_WEBHOOK_ALLOWLIST`` are always allowed. An IP written in the URL is
refused when the webhook is added; a host name is checked when the worker connects,
on every address it resolves to, and the socket connects to the checked address. The
deliveries go to a real receiver on loopback through the real worker.
"""

from __future__ import annotations

import pytest
from api_support import Receiver
from conftest import campaign_app

from survey import worker
from survey.storage import store, tokens, webhooks
from survey.storage.db import get_db, open_db

LOCAL, ALLOW = webhooks.LOCAL_ENV, webhooks.ALLOWLIST_ENV


@pytest.fixture(autouse=True)
def _policy_env(monkeypatch):
    monkeypatch.delenv(LOCAL, raising=False)
    monkeypatch.delenv(ALLOW, raising=False)


@pytest.mark.parametrize(
    "address, what",
    [
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("::ffff:169.254.169.254", "link-local"),  # IPv4-mapped: judged as IPv4
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
    ],
)
def test_never_a_destination(address, what, monkeypatch):
    why = webhooks.refused_address(address)
    assert why is not None and what in why and "never" in why
    monkeypatch.setenv(LOCAL, "allow")
    assert webhooks.refused_address(address) is not None


LOCAL_ADDRESSES = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "non-public"),  # carrier-grade NAT
    ("fd12:3456::1", "private"),  # IPv6 unique-local
]


@pytest.mark.parametrize("address, what", LOCAL_ADDRESSES)
def test_local_networks_are_allowed_unless_denied(address, what, monkeypatch):
    assert webhooks.refused_address(address) is None  # the default: allow
    monkeypatch.setenv(LOCAL, "deny")
    why = webhooks.refused_address(address)
    assert why is not None and what in why and f"{LOCAL}=deny" in why


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111"])
def test_public_addresses_are_allowed(address, monkeypatch):
    monkeypatch.setenv(LOCAL, "deny")
    assert webhooks.refused_address(address) is None


def test_the_allowlist_wins(monkeypatch):
    monkeypatch.setenv(LOCAL, "deny")
    monkeypatch.setenv(ALLOW, " 10.1.2.0/24 , 169.254.1.5,::1")
    assert webhooks.refused_address("10.1.2.200") is None
    assert webhooks.refused_address("10.1.3.1") is not None
    assert webhooks.refused_address("169.254.1.5") is None
    assert webhooks.refused_address("169.254.169.254") is not None
    assert webhooks.refused_address("::1") is None
    assert webhooks.refused_address("127.0.0.1") is not None


@pytest.mark.parametrize(
    "name, value", [(LOCAL, "maybe"), (ALLOW, "10.0.0.0/33"), (ALLOW, "intranet.example")]
)
def test_a_bad_setting_is_named(name, value, monkeypatch):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        webhooks.refused_address("8.8.8.8")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:a9fe:a9fe]/latest/meta-data/",
        "https://0.0.0.0:8443/hook",
        "http://[fe80::1%25eth0]:8080/hook",
    ],
)
def test_adding_a_refused_address_is_a_clear_error(url, tmp_path):
    """Storage, and the API's 422 (never a 500), name the address and why."""
    app, _ = campaign_app(tmp_path / "add.db", "add-secret")
    with app.app_context():
        with pytest.raises(ValueError, match="refused address"):
            webhooks.add_webhook(get_db(), "acme", url)
        raw, _ = tokens.create_token(get_db(), "r", "researcher")
    r = app.test_client().post(
        "/api/v1/campaigns/acme/webhooks",
        json={"url": url},
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert r.status_code == 422, r.get_data(as_text=True)
    assert "refused address" in r.json["detail"]
    with app.app_context():
        assert webhooks.list_webhooks(get_db(), "acme") == []


def test_a_denied_loopback_literal_is_refused_when_added(monkeypatch, tmp_path):
    monkeypatch.setenv(LOCAL, "deny")
    app, _ = campaign_app(tmp_path / "deny.db", "deny-secret")
    with app.app_context():
        with pytest.raises(ValueError, match="loopback"):
            webhooks.add_webhook(get_db(), "acme", "http://127.0.0.1:8080/hook")
        monkeypatch.setenv(ALLOW, "127.0.0.1")
        webhooks.add_webhook(get_db(), "acme", "http://127.0.0.1:8080/hook")


def _deliver_one(db_path, url) -> worker.Outcome:
    """Add a webhook for ``url``, queue one event and let the worker try it once."""
    with open_db(db_path) as db:
        c = store.get_campaign(db, "acme")
        webhooks.add_webhook(db, "acme", url)
        webhooks.enqueue_event(db, c, "response.completed", "one", {"x": 1})
        return worker.Worker(db, kinds=["webhook"]).step()


@pytest.fixture
def db_path(tmp_path):
    campaign_app(tmp_path / "deliver.db", "deliver-secret")
    return tmp_path / "deliver.db"


@pytest.mark.parametrize("host", ["localhost", "2130706433", "0x7f.1"])
def test_a_host_name_is_checked_on_every_address_it_resolves_to(host, monkeypatch, db_path):
    """``localhost``, and 127.0.0.1 written as one decimal or hex number (which the
    resolver accepts but is not an IP literal to the URL check), pass when the webhook is
    added; with local networks denied the worker refuses to connect, at once and for
    good, and the receiver gets nothing."""
    monkeypatch.setenv(LOCAL, "deny")
    with Receiver() as rx:
        port = rx.server.server_address[1]
        outcome = _deliver_one(db_path, f"http://{host}:{port}/hook")
        assert outcome.state == "failed", outcome
        assert "refused destination" in outcome.detail and "127.0.0.1" in outcome.detail
        assert rx.keys() == []
    with open_db(db_path) as db:
        (attempt,) = webhooks.attempts(db, "acme")
        assert attempt["status"] is None and "loopback" in attempt["error"]


def test_allowed_hosts_are_delivered(monkeypatch, db_path):
    """The same loopback receiver gets the event by default, and with local networks
    denied when its address is allowlisted."""
    with Receiver() as rx:
        port = rx.server.server_address[1]
        assert _deliver_one(db_path, f"http://localhost:{port}/hook").state == "sent"
        monkeypatch.setenv(LOCAL, "deny")
        monkeypatch.setenv(ALLOW, "127.0.0.0/8")
        assert _deliver_one(db_path, f"http://2130706433:{port}/hook").state == "sent"
        assert len(rx.keys()) == 2


def test_a_metadata_address_behind_a_name_is_never_reached(monkeypatch, db_path):
    """A name resolving to a link-local address (here by patching the resolver, as DNS
    rebinding would) is refused even though local networks are allowed."""
    import socket

    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host == "hooks.example.org":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", 80))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    outcome = _deliver_one(db_path, "http://hooks.example.org/hook")
    assert outcome.state == "failed" and "link-local" in outcome.detail


def test_a_bad_setting_is_a_clear_error_in_the_api_and_the_worker(monkeypatch, db_path):
    """A misconfigured policy is never a 500 or a crash: the API answers 422 naming the
    variable, and the worker records the attempt and retries (the setting can be
    fixed), sending nothing."""
    app, _ = campaign_app(db_path.with_name("api.db"), "bad-setting")
    with app.app_context():
        raw, _ = tokens.create_token(get_db(), "r", "researcher")
    with Receiver() as rx:
        port = rx.server.server_address[1]
        with open_db(db_path) as db:  # added while the setting was fine
            webhooks.add_webhook(db, "acme", f"http://localhost:{port}/hook")
        monkeypatch.setenv(LOCAL, "sometimes")
        r = app.test_client().post(
            "/api/v1/campaigns/acme/webhooks",
            json={"url": f"http://127.0.0.1:{port}/hook"},
            headers={"Authorization": f"Bearer {raw}"},
        )
        assert r.status_code == 422 and LOCAL in r.json["detail"]
        with open_db(db_path) as db:
            c = store.get_campaign(db, "acme")
            webhooks.enqueue_event(db, c, "response.completed", "one", {"x": 1})
            outcome = worker.Worker(db, kinds=["webhook"]).step()
            (attempt,) = webhooks.attempts(db, "acme")
        assert outcome.state == "retrying" and LOCAL in outcome.detail
        assert LOCAL in attempt["error"] and rx.keys() == []

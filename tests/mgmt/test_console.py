"""Console completion from the schema (the pure function; no terminal) and current-menu handling."""

from __future__ import annotations

from ipsecd.mgmt import Config, Session
from ipsecd.mgmt.console import Console, complete


def test_menus_and_commands() -> None:
    assert complete("", "/") == ["..", "export", "import", "ip"]
    assert complete("/ip/ipsec/p", "/") == ["/ip/ipsec/peer", "/ip/ipsec/policy", "/ip/ipsec/profile",
                                            "/ip/ipsec/proposal"]
    assert complete("pe", "/ip ipsec") == ["peer"]
    assert "group" in complete("", "/ip ipsec policy") and "move" in complete("", "/ip ipsec policy")
    assert complete("kill", "/ip ipsec active-peers") == ["kill-connections"]
    assert complete("/ip ipsec key ", "/") == ["..", "export-pub-key", "find", "generate-key", "import",
                                               "print", "psk", "qkd", "remove", "rsa", "set"]


def test_properties_and_values() -> None:
    assert complete("/ip ipsec peer add exch", "/") == ["exchange-mode="]
    assert complete("add exchange-mode=", "/ip ipsec peer") == [
        "exchange-mode=aggressive", "exchange-mode=base", "exchange-mode=ike2", "exchange-mode=main"]
    assert complete("set 0 dh-group=ecp256,modp20", "/ip ipsec profile") == ["dh-group=ecp256,modp2048"]
    assert complete("print de", "/ip ipsec peer") == ["detail"]
    assert "where" in complete("print ", "/ip ipsec peer")
    assert "secret=" in complete("add ", "/ip ipsec identity")
    assert "default=" not in complete("set 0 ", "/ip ipsec profile")  # read-only properties are not offered
    assert complete("add my-id=fq", "/ip ipsec identity") == ["my-id=fqdn:"]


def test_references_complete_to_configured_names(config: Config) -> None:
    session = Session(config)
    session.execute("/ip ipsec profile add name=strong")
    console = Console(lambda line, as_json: Session(config).execute(line, as_json))
    assert complete("add profile=", "/ip ipsec peer", console.names) == ["profile=default", "profile=strong"]
    assert complete("add mode-config=", "/ip ipsec identity", console.names) == ["mode-config=none",
                                                                                "mode-config=request-only"]


def test_console_keeps_the_current_menu(config: Config) -> None:
    console = Console(lambda line, as_json: Session(config).execute(line, as_json))
    assert console.run_line("/ip ipsec").rc == 0 and console.cwd == "/ip ipsec"
    assert console.run_line("peer").rc == 0 and console.cwd == "/ip ipsec peer"
    assert console.run_line("add name=z").rc == 0
    assert console.run_line("/ip ipsec profile print").rc == 0 and console.cwd == "/ip ipsec peer"
    assert console.run_line("..").rc == 0 and console.cwd == "/ip ipsec"
    res = console.run_line("nosuch")
    assert res.rc == 1 and console.cwd == "/ip ipsec"
    assert [r["name"] for r in config.snapshot().rows("/ip ipsec peer")] == ["z"]

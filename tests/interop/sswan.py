"""strongSwan-in-namespaces harness: the project's own (root only, stdlib only).

Topology (``Topology(prefix)``; every name carries the prefix so parallel areas never collide)::

    netns <p>L                                      netns <p>R
    lo   10.<n>.1.1/32   ("LAN left")               lo   10.<n>.2.1/32   ("LAN right")
    <p>L-eth 10.<w>.0.1/24 <------- veth -------> <p>R-eth 10.<w>.0.2/24

With ``nat=True`` a third namespace ``<p>N`` sits between them and masquerades the left side
(nftables), so the right side sees the left one as ``10.<w>.0.254``::

    <p>L-eth 10.<w>.1.1/24 <-> <p>N-l 10.<w>.1.254 | <p>N-r 10.<w>.0.254 <-> <p>R-eth 10.<w>.0.2/24

strongSwan facts this encodes (learnt on these machines):

* the kernel has no ESP transforms, so charon runs ``kernel-libipsec`` (userspace ESP over a TUN
  ``ipsec0``, routes in table 220). Debian's charon loads plugins modularly and the first
  kernel-ipsec plugin wins, hence ``load_modular = no`` and an explicit ``load`` list with
  ``kernel-libipsec`` before ``kernel-netlink``;
* libipsec always UDP-encapsulates: charon fakes NAT detection, IKE floats to 4500 and ESP runs in
  UDP/4500 (RFC 3948), so its peer must do NAT-T from the first exchange;
* charon's pid file path is compiled in: each instance gets a private mount namespace with its own
  directory bind-mounted over ``/run``; it is driven over its VICI socket (``Vici`` below, or
  ``swanctl --uri``);
* ``ip link add type dummy`` is unavailable: the "LAN" addresses are /32s on ``lo``; loopback traffic
  bypasses IPsec, so tests send between the LAN addresses of *different* namespaces.

Processes are started with ``start_new_session`` and stopped by their own PID, never by name.
Used by ``tests/interop`` and by the data-plane and IKE benchmarks in ``bench/``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CHARON = "/usr/lib/ipsec/charon"
SWANCTL = "/usr/sbin/swanctl"
REPO = Path(__file__).resolve().parents[2]

#: kernel-libipsec must come before kernel-netlink (first kernel-ipsec interface wins); netlink is
#: still needed for addresses, routes and the socket bypass policies. ``attr``/``resolve`` handle
#: mode-config DNS on clients.
PLUGINS = (
    "random nonce openssl aes sha1 sha2 hmac kdf gcm chapoly curve25519 gmp pem pkcs1 pkcs8 x509 "
    "pubkey revocation constraints attr resolve kernel-libipsec kernel-netlink socket-default "
    "updown vici xauth-generic unity"
)

STRONGSWAN_CONF = """\
charon {{
    load_modular = no
    load = {plugins}
    port = 500
    port_nat_t = 4500
    interfaces_use = {iface}
    install_routes = yes
    routing_table = 220
    routing_table_prio = 220
    install_virtual_ip = {install_vip}
    retransmit_tries = {retransmit_tries}
    retransmit_timeout = 1.0
    retransmit_base = 1.4
    threads = {threads}
    syslog {{
        daemon {{
            default = -1
        }}
    }}
    filelog {{
        charon {{
            path = {workdir}/charon.log
            time_format = %H:%M:%S
            ike_name = yes
            append = no
            default = {loglevel}
            flush_line = yes
        }}
    }}
    plugins {{
        vici {{
            socket = unix:///run/charon.vici
        }}
        kernel-libipsec {{
            allow_peer_ts = no
        }}
        resolve {{
            file = {workdir}/resolv.conf
        }}
    }}
{extra}
}}
"""


def log(msg: str) -> None:
    print(f"[sswan] {msg}", file=sys.stderr, flush=True)


def sh(args: Sequence[str], check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a command, capture stdout+stderr; raise with the output when ``check`` and it fails."""
    r = subprocess.run([str(a) for a in args], text=True, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise RuntimeError(f"{shlex.join(map(str, args))} failed rc={r.returncode}\n{r.stdout}")
    return r


# ---------------------------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------------------------


class Proc:
    """A process we started (own session), stopped by PID: TERM, then KILL after ``grace``."""

    def __init__(self, args: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.args = [str(a) for a in args]
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._out = open(log_path, "w")
        self.popen = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=self._out,
                                      stderr=subprocess.STDOUT, start_new_session=True, env=env)
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def send_signal(self, sig: int) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, grace: float = 5.0, sig: int = signal.SIGTERM) -> int | None:
        if self.alive():
            os.kill(self.pid, sig)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)  # our own session: the process and its children
                self.popen.wait(timeout=5)
        self._out.close()
        return self.popen.returncode

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------------
# namespaces and topology
# ---------------------------------------------------------------------------------------------


@dataclass
class Netns:
    name: str
    wan: str = ""  # address on the veth toward the peer / NAT box
    lan: str = ""  # /32 on lo: the inner address traffic is sent from/to
    iface: str = ""
    wan6: str = ""  # IPv6 counterparts (Topology(ipv6=True))
    lan6: str = ""
    procs: list[Proc] = field(default_factory=list)

    def cmd(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return sh(self.cmd(*args), check=check, timeout=timeout)

    def spawn(self, args: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> Proc:
        p = Proc(self.cmd(*args), log_path, env)
        self.procs.append(p)
        return p

    def ping(self, dst: str, src: str | None = None, count: int = 3, interval: float = 0.2,
             wait: float = 2.0) -> tuple[int, int]:
        """(sent, received) of an ICMP echo run inside this namespace."""
        args = ["ping", "-n", "-c", str(count), "-i", str(interval), "-W", str(wait)]
        if src:
            args += ["-I", src]
        r = self.run(*args, dst, check=False, timeout=count * interval + wait + 10)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", r.stdout)
        return (int(m.group(1)), int(m.group(2))) if m else (count, 0)

    def wait_ping(self, dst: str, src: str, timeout: float = 20.0, interval: float = 0.2,
                  desc: str = "the tunnel to carry a ping") -> None:
        """Waits until one echo from ``src`` to ``dst`` comes back (a tunnel up once its first packet
        has found its way); TimeoutError naming ``desc`` otherwise."""
        wait_until(desc, lambda: self.ping(dst, src=src, count=1, wait=1)[1] == 1, timeout, interval)


def netns_exists(name: str) -> bool:
    r = sh(["ip", "netns", "list"], check=False)
    return any(line.split()[0] == name for line in r.stdout.splitlines() if line.strip())


class Topology:
    """Two namespaces joined by a veth (or through a masquerading NAT namespace)."""

    def __init__(self, prefix: str = "ipd", wan_net: int = 241, lan_net: int = 242, nat: bool = False,
                 ipv6: bool = False) -> None:
        """``ipv6``: the veth and the LANs also get IPv6 addresses (``fd00:<w>::1|2/64`` and
        ``fd00:<n>:1|2::1/128``; not with ``nat``)."""
        self.prefix = prefix
        self.nat_enabled = nat
        self.ipv6 = ipv6 and not nat
        w, n = wan_net, lan_net
        self.left = Netns(f"{prefix}L", iface=f"{prefix}L-eth", lan=f"10.{n}.1.1")
        self.right = Netns(f"{prefix}R", iface=f"{prefix}R-eth", wan=f"10.{w}.0.2", lan=f"10.{n}.2.1")
        if self.ipv6:
            for side, s in ((1, self.left), (2, self.right)):
                s.wan6, s.lan6 = f"fd00:{w}::{side}", f"fd00:{n}:{side}::1"
        self.nat: Netns | None = None
        if nat:
            self.left.wan = f"10.{w}.1.1"
            self.nat = Netns(f"{prefix}N", wan=f"10.{w}.0.254")
            self.nat_inside = f"10.{w}.1.254"
        else:
            self.left.wan = f"10.{w}.0.1"
        self.spaces = [s for s in (self.left, self.right, self.nat) if s is not None]

    @property
    def left_seen_by_right(self) -> str:
        """The address the right side sees the left one at (the NAT box's when masquerading)."""
        return self.nat.wan if self.nat else self.left.wan

    def up(self) -> Topology:
        for s in self.spaces:
            if netns_exists(s.name):  # left over by a killed run: ours by prefix
                sh(["ip", "netns", "del", s.name], check=False)
            sh(["ip", "netns", "add", s.name])
            sh(["ip", "-n", s.name, "link", "set", "lo", "up"])
        left, right = self.left, self.right
        if self.nat is None:
            self._veth(left, left.iface, right, right.iface)
            left.run("ip", "addr", "add", f"{left.wan}/24", "dev", left.iface)
            right.run("ip", "addr", "add", f"{right.wan}/24", "dev", right.iface)
        else:
            nat = self.nat
            nl, nr = f"{self.prefix}N-l", f"{self.prefix}N-r"
            self._veth(left, left.iface, nat, nl)
            self._veth(nat, nr, right, right.iface)
            left.run("ip", "addr", "add", f"{left.wan}/24", "dev", left.iface)
            nat.run("ip", "addr", "add", f"{self.nat_inside}/24", "dev", nl)
            nat.run("ip", "addr", "add", f"{nat.wan}/24", "dev", nr)
            right.run("ip", "addr", "add", f"{right.wan}/24", "dev", right.iface)
            for s, dev in ((left, left.iface), (nat, nl), (nat, nr), (right, right.iface)):
                s.run("ip", "link", "set", dev, "up")
            left.run("ip", "route", "add", "default", "via", self.nat_inside)
            nat.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
            table = f"{self.prefix}nat"
            nat.run("nft", "add", "table", "ip", table)
            nat.run("nft", "add", "chain", "ip", table, "post",
                    "{ type nat hook postrouting priority 100 ; }")
            nat.run("nft", "add", "rule", "ip", table, "post", "oifname", nr, "masquerade")
        for s in (left, right):
            s.run("ip", "link", "set", s.iface, "up")
            s.run("ip", "addr", "add", f"{s.lan}/32", "dev", "lo")
            if self.ipv6:
                s.run("ip", "addr", "add", f"{s.wan6}/64", "dev", s.iface, "nodad")
                s.run("ip", "addr", "add", f"{s.lan6}/128", "dev", "lo")
        for src, dst in ((left.wan, right.wan), (left.wan6, right.wan6)):
            if dst and left.ping(dst, count=1, wait=3)[1] != 1:
                raise RuntimeError(f"topology {self.prefix}: {src} cannot reach {dst}")
        return self

    @staticmethod
    def _veth(a: Netns, a_dev: str, b: Netns, b_dev: str) -> None:
        sh(["ip", "link", "add", a_dev, "netns", a.name, "type", "veth", "peer", "name", b_dev,
            "netns", b.name])
        a.run("ip", "link", "set", a_dev, "up")
        b.run("ip", "link", "set", b_dev, "up")

    def down(self) -> None:
        """Stop every process started in our namespaces (by PID), then delete the namespaces."""
        for s in self.spaces:
            for p in reversed(s.procs):
                with contextlib.suppress(Exception):
                    p.stop(grace=3)
            s.procs.clear()
        for s in self.spaces:
            if netns_exists(s.name):
                sh(["ip", "netns", "del", s.name], check=False)

    def __enter__(self) -> Topology:
        try:
            return self.up()
        except BaseException:
            self.down()
            raise

    def __exit__(self, *exc: object) -> None:
        self.down()


# ---------------------------------------------------------------------------------------------
# VICI (strongSwan's control protocol: src/libcharon/plugins/vici/README.md)
# ---------------------------------------------------------------------------------------------

_REQ, _RESP, _UNKNOWN, _EV_REG, _EV_UNREG, _EV_CONFIRM, _EV_UNKNOWN, _EVENT = range(8)
_SEC_START, _SEC_END, _KV, _LIST_START, _LIST_ITEM, _LIST_END = range(1, 7)

ViciValue = str | list[str] | dict[str, "ViciValue"]


def vici_encode(msg: dict[str, object]) -> bytes:
    out = bytearray()

    def value(v: object) -> bytes:
        if isinstance(v, bool):
            v = "yes" if v else "no"
        b = v if isinstance(v, bytes) else str(v).encode()
        return struct.pack("!H", len(b)) + b

    for k, v in msg.items():
        kb = k.encode()
        if isinstance(v, dict):
            out += bytes([_SEC_START, len(kb)]) + kb + vici_encode(v) + bytes([_SEC_END])
        elif isinstance(v, list | tuple):
            out += bytes([_LIST_START, len(kb)]) + kb
            for item in v:
                out += bytes([_LIST_ITEM]) + value(item)
            out += bytes([_LIST_END])
        else:
            out += bytes([_KV, len(kb)]) + kb + value(v)
    return bytes(out)


def vici_decode(data: bytes) -> dict[str, ViciValue]:
    root: dict[str, ViciValue] = {}
    stack = [root]
    items: list[str] | None = None
    i = 0
    while i < len(data):
        t = data[i]
        i += 1
        name = ""
        if t in (_SEC_START, _KV, _LIST_START):
            n = data[i]
            name = data[i + 1:i + 1 + n].decode()
            i += 1 + n
        if t == _SEC_START:
            sec: dict[str, ViciValue] = {}
            stack[-1][name] = sec
            stack.append(sec)
        elif t == _SEC_END:
            stack.pop()
        elif t in (_KV, _LIST_ITEM):
            (ln,) = struct.unpack_from("!H", data, i)
            text = data[i + 2:i + 2 + ln].decode(errors="replace")
            i += 2 + ln
            if t == _KV:
                stack[-1][name] = text
            elif items is not None:
                items.append(text)
        elif t == _LIST_START:
            items = []
            stack[-1][name] = items
        elif t == _LIST_END:
            items = None
        else:
            raise ValueError(f"bad VICI element type {t}")
    return root


class Vici:
    """Blocking VICI client: ``request`` for commands, ``streamed`` for list-* commands."""

    def __init__(self, path: str | Path, timeout: float = 60.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        for attempt in range(100):  # a burst of clients can fill charon's listen backlog (EAGAIN)
            try:
                self.sock.connect(str(path))
                break
            except BlockingIOError:
                if attempt == 99:
                    raise
                time.sleep(0.02)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Vici:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, ptype: int, name: str | None = None, msg: dict[str, object] | None = None) -> None:
        body = bytes([ptype])
        if name is not None:
            body += bytes([len(name)]) + name.encode()
        if msg:
            body += vici_encode(msg)
        self.sock.sendall(struct.pack("!I", len(body)) + body)

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("VICI socket closed")
            buf += chunk
        return bytes(buf)

    def _recv(self) -> tuple[int, str | None, dict[str, ViciValue]]:
        (ln,) = struct.unpack("!I", self._recv_exact(4))
        pkt = self._recv_exact(ln)
        if pkt[0] == _EVENT:
            n = pkt[1]
            return pkt[0], pkt[2:2 + n].decode(), vici_decode(pkt[2 + n:])
        return pkt[0], None, vici_decode(pkt[1:])

    def request(self, cmd: str, msg: dict[str, object] | None = None) -> dict[str, ViciValue]:
        self._send(_REQ, cmd, msg)
        while True:
            t, _, res = self._recv()
            if t == _RESP:
                return res
            if t == _UNKNOWN:
                raise ValueError(f"unknown VICI command {cmd}")

    def streamed(
        self, cmd: str, event: str, msg: dict[str, object] | None = None
    ) -> list[dict[str, ViciValue]]:
        self._send(_EV_REG, event)
        if self._recv()[0] != _EV_CONFIRM:
            raise ValueError(f"VICI event registration {event} refused")
        self._send(_REQ, cmd, msg)
        out: list[dict[str, ViciValue]] = []
        while True:
            t, name, res = self._recv()
            if t == _EVENT and name == event:
                out.append(res)
            elif t == _RESP:
                break
        self._send(_EV_UNREG, event)
        self._recv()
        return out


# ---------------------------------------------------------------------------------------------
# charon
# ---------------------------------------------------------------------------------------------


def swanctl_connection(name: str, *, local_addr: str, remote_addr: str, local_id: str, remote_id: str,
                       local_ts: str, remote_ts: str, psk: str, proposals: str = "default",
                       esp_proposals: str = "default", rekey_time: str = "0", child_rekey: str = "0",
                       dpd_delay: str = "0", child: str = "net", vips: str = "", start_action: str = "none",
                       extra: str = "", child_extra: str = "") -> str:
    """A swanctl.conf with one IKEv2 PSK connection, one child and its secret."""
    vip_line = f"        vips = {vips}\n" if vips else ""
    return f"""\
connections {{
    {name} {{
        version = 2
        local_addrs = {local_addr}
        remote_addrs = {remote_addr}
        proposals = {proposals}
        rekey_time = {rekey_time}
        dpd_delay = {dpd_delay}
        mobike = no
{vip_line}{extra}
        local {{
            auth = psk
            id = {local_id}
        }}
        remote {{
            auth = psk
            id = {remote_id}
        }}
        children {{
            {child} {{
                mode = tunnel
                local_ts = {local_ts}
                remote_ts = {remote_ts}
                esp_proposals = {esp_proposals}
                rekey_time = {child_rekey}
                start_action = {start_action}
                dpd_action = clear
{child_extra}
            }}
        }}
    }}
}}
secrets {{
    ike-{name} {{
        id-a = {local_id}
        id-b = {remote_id}
        secret = "{psk}"
    }}
}}
"""


class Charon:
    """One charon (kernel-libipsec) in a namespace, with its own /run and VICI socket."""

    def __init__(self, ns: Netns, workdir: Path, *, loglevel: int = 1, install_vip: bool = False,
                 retransmit_tries: int = 3, threads: int = 16, extra: str = "", plugins: str = "") -> None:
        """``plugins``: loaded besides :data:`PLUGINS` (``eap-mschapv2`` …)."""
        self.ns = ns
        self.plugins = f"{PLUGINS} {plugins}".strip()
        self.dir = workdir / f"charon-{ns.name}"
        self.rundir = self.dir / "run"
        self.swanctl_dir = self.dir / "swanctl"
        self.conf = self.dir / "strongswan.conf"
        self.vici_path = self.rundir / "charon.vici"
        self.log_path = self.dir / "charon.log"
        self.loglevel = loglevel
        self.install_vip = install_vip
        self.retransmit_tries = retransmit_tries
        self.threads = threads
        self.extra = extra
        self.proc: Proc | None = None

    def start(self, timeout: float = 15.0) -> Charon:
        self.rundir.mkdir(parents=True, exist_ok=True)
        for sub in ("conf.d", "x509", "x509ca", "private", "pubkey"):
            (self.swanctl_dir / sub).mkdir(parents=True, exist_ok=True)
        for stale in ("charon.pid", "charon.vici"):
            (self.rundir / stale).unlink(missing_ok=True)
        self.conf.write_text(STRONGSWAN_CONF.format(
            plugins=self.plugins, iface=self.ns.iface, install_vip="yes" if self.install_vip else "no",
            retransmit_tries=self.retransmit_tries, threads=self.threads, workdir=self.dir,
            loglevel=self.loglevel, extra=self.extra))
        # netns exec -> unshare (private mounts) -> bind our dir over /run -> exec charon: every step
        # exec()s, so the PID we hold is charon's.
        inner = (f"mount --bind {shlex.quote(str(self.rundir))} /run && "
                 f"exec env STRONGSWAN_CONF={shlex.quote(str(self.conf))} {CHARON}")
        self.proc = self.ns.spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c", inner],
                                  self.dir / "charon.stdout")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise RuntimeError(f"charon in {self.ns.name} exited:\n{self.proc.output()}")
            if self.vici_path.exists():
                try:
                    with self.vici() as v:
                        v.request("version")
                    return self
                except OSError:
                    pass
            time.sleep(0.05)
        raise RuntimeError(f"charon in {self.ns.name} did not come up; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def kill(self) -> None:
        """SIGKILL: the peer vanishes without DELETEs (dead-peer tests)."""
        if self.proc is not None:
            self.proc.stop(grace=0.1, sig=signal.SIGKILL)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.alive() else None

    def vici(self, timeout: float = 60.0) -> Vici:
        return Vici(self.vici_path, timeout)

    def swanctl(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        env = dict(os.environ, SWANCTL_DIR=str(self.swanctl_dir))
        r = subprocess.run([SWANCTL, *args, "--uri", f"unix://{self.vici_path}"], text=True, env=env,
                           timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if check and r.returncode != 0:
            raise RuntimeError(f"swanctl {args} in {self.ns.name} failed rc={r.returncode}\n{r.stdout}")
        return r.stdout

    def load(self, swanctl_conf: str) -> None:
        """Replace the loaded connections and secrets with ``swanctl_conf``."""
        (self.swanctl_dir / "swanctl.conf").write_text(swanctl_conf)
        self.swanctl("--load-all", "--clear")

    def initiate(self, child: str | None = "net", ike: str | None = None, timeout_ms: int = 15000) -> None:
        msg: dict[str, object] = {"timeout": str(timeout_ms), "loglevel": "-1"}
        if child:
            msg["child"] = child
        if ike:
            msg["ike"] = ike
        with self.vici(timeout=timeout_ms / 1000 + 5) as v:
            res = v.request("initiate", msg)
        if res.get("success") != "yes":
            raise RuntimeError(f"charon initiate failed: {res.get('errmsg')}; see {self.log_path}")

    def list_sas(self) -> list[dict[str, ViciValue]]:
        """One dict per IKE SA: ``{name: {state, child-sas: {...}, ...}}`` flattened to the inner dict."""
        with self.vici() as v:
            events = v.streamed("list-sas", "list-sa")
        out: list[dict[str, ViciValue]] = []
        for ev in events:
            for name, sa in ev.items():
                if isinstance(sa, dict):
                    out.append({"name": name, **sa})
        return out

    def child_sas(self) -> list[dict[str, ViciValue]]:
        out: list[dict[str, ViciValue]] = []
        for ike in self.list_sas():
            children = ike.get("child-sas")
            if isinstance(children, dict):
                out.extend(c for c in children.values() if isinstance(c, dict))
        return out

    def terminate_all(self) -> None:
        for sa in self.list_sas():
            uid = sa.get("uniqueid")
            if isinstance(uid, str):
                self.swanctl("--terminate", "--ike-id", uid, "--force", "--timeout", "3", check=False)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


# ---------------------------------------------------------------------------------------------
# ipsecd in a namespace
# ---------------------------------------------------------------------------------------------


class Ipsecd:
    """``ipsecd run`` inside a namespace with its own database, control socket and log."""

    def __init__(self, ns: Netns, workdir: Path, rsc: str, *, dataplane: str = "tun",
                 tun: str | None = None, extra_args: Sequence[str] = (), src: Path | None = None) -> None:
        """``src``: the ``src`` directory of the tree to run (another commit's, for a benchmark that
        compares two); this tree's by default."""
        self.ns = ns
        self.src = src or REPO / "src"
        self.dir = workdir / f"ipsecd-{ns.name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rsc_path = self.dir / "config.rsc"
        self.rsc_path.write_text(rsc)
        self.db = self.dir / "config.db"
        self.control = self.dir / "control"
        self.log_path = self.dir / "ipsecd.log"
        self.dataplane = dataplane
        self.tun = tun or f"{ns.name}t"[:15]
        self.extra_args = list(extra_args)
        self.proc: Proc | None = None

    def base_args(self) -> list[str]:
        return [sys.executable, "-m", "ipsecd", "--db", str(self.db), "--control", str(self.control)]

    def start(self, timeout: float = 20.0) -> Ipsecd:
        args = [*self.base_args(), "run", "--config", str(self.rsc_path), "--dataplane", self.dataplane]
        if self.dataplane == "tun":
            args += ["--tun", self.tun]
        args += self.extra_args
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(self.src))
        self.proc = self.ns.spawn(args, self.log_path, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.proc.alive():
                raise RuntimeError(f"ipsecd in {self.ns.name} exited:\n{self.proc.output()}")
            if self.control.exists():
                return self
            time.sleep(0.05)
        raise RuntimeError(f"ipsecd in {self.ns.name} did not open its control socket:\n{self.proc.output()}")

    def exec(
        self, command: str, as_json: bool = False, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """``ipsecd exec`` against this daemon (from the host: a Unix socket needs no namespace)."""
        args = [*self.base_args(), "exec", command] + (["--json"] if as_json else [])
        env = dict(os.environ, PYTHONPATH=str(self.src))
        r = subprocess.run(args, text=True, env=env, timeout=30, capture_output=True)
        if check and r.returncode != 0:
            raise RuntimeError(f"ipsecd exec {command!r} rc={r.returncode}: {r.stderr}")
        return r

    def stop(self) -> int | None:
        return self.proc.stop(grace=10) if self.proc else None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.stop(grace=0.1, sig=signal.SIGKILL)

    def log_text(self) -> str:
        return self.proc.output() if self.proc else ""


def wait_until(desc: str, predicate: object, timeout: float = 15.0, interval: float = 0.1) -> None:
    """Poll ``predicate()`` until true; TimeoutError naming ``desc`` otherwise."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {desc}")


@contextlib.contextmanager
def charon_pair(prefix: str, workdir: Path, **charon_kw: object) -> Iterator[tuple[Topology, Charon, Charon]]:
    """Two charons, left and right, in a fresh topology; everything removed on exit."""
    topo = Topology(prefix)
    with topo:
        left = Charon(topo.left, workdir, **charon_kw).start()  # type: ignore[arg-type]
        right = Charon(topo.right, workdir, **charon_kw).start()  # type: ignore[arg-type]
        yield topo, left, right


def connect_charons(left: Charon, right: Charon, topo: Topology, psk: str = "harness-psk-0123456789",
                    proposals: str = "aes128gcm16-prfsha256-x25519", esp: str = "aes128gcm16") -> None:
    """Load a matching LAN-to-LAN connection on both and bring it up from the left."""
    for me, me_ns, peer_ns in ((left, topo.left, topo.right), (right, topo.right, topo.left)):
        me.load(swanctl_connection(
            "net", local_addr=me_ns.wan, remote_addr=peer_ns.wan, local_id=f"{me_ns.name}.test",
            remote_id=f"{peer_ns.name}.test", local_ts=f"{me_ns.lan}/32", remote_ts=f"{peer_ns.lan}/32",
            psk=psk, proposals=proposals, esp_proposals=esp))
    left.initiate("net")


if __name__ == "__main__":  # manual smoke: python tests/interop/sswan.py [workdir]
    wd = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ipd-sswan")
    with charon_pair("ipdh", wd) as (t, a, b):
        connect_charons(a, b, t)
        print("ping", t.left.ping(t.right.lan, src=t.left.lan))

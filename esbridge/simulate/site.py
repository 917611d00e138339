"""The fixed, small dCache site the simulator speaks about.

Every stream (billing, logs, access, poolinfo) draws its pools, doors, hosts and users from the
same model, so that a pool disabled in the logs is the pool missing from billing and shown
disabled in poolinfo.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

GiB = 1 << 30
TiB = 1 << 40

HEAD_HOST = "dcache-head01"
HEAD_DOMAIN = "dCacheDomain"


@dataclass(frozen=True)
class Pool:
    """A pool cell: its data address (`localEndpoint`) and the pool groups it serves."""

    name: str
    host: str
    domain: str
    groups: tuple[str, ...]
    ip: str
    zone: str
    total: int
    hsm: tuple[str, str, str] | None = None  # (type, instance, provider) on tape pools
    tape_role: str = ""  # "store" (flush) or "restore" (stage) on tape pools


@dataclass(frozen=True)
class Door:
    """A door cell and the protocol its movers report in `protocolInfo`."""

    name: str
    domain: str
    host: str
    zone: str
    protocol: str
    version: tuple[int, int]
    port: int

    @property
    def cell_address(self) -> str:
        return f"{self.name}@{self.domain}"


@dataclass(frozen=True)
class User:
    uid: int
    gid: int
    name: str | None
    fqan: str | None = None


@dataclass(frozen=True)
class Client:
    """A client address both ways dCache prints it: compressed (`Origin`) and Java's full form."""

    ip: str
    java: str
    v6: bool


@dataclass(frozen=True)
class VO:
    """A community: its disk pool group, doors, users, clients, file names and sizes."""

    name: str
    group: str
    storage: str
    doors: tuple[str, ...]
    users: tuple[User, ...]
    clients: tuple[Client, ...]
    paths: tuple[str, ...]  # str.format templates over user, a, b, c, d; repeats weigh more
    size_range: tuple[int, int]
    write_share: float
    tape_storage: str | None = None  # `<store>:<group>@<hsm type>` of its tape copies
    weight: int = 1  # share of the traffic


@dataclass(frozen=True)
class SiteModel:
    """Pools, doors and communities of one site; `SiteModel.default()` is the one used by tests."""

    name: str
    pools: tuple[Pool, ...]
    doors: tuple[Door, ...]
    vos: tuple[VO, ...]
    head_zone: str = "Europe/Berlin"
    file_logged: frozenset[str] = field(default_factory=frozenset)  # domains not under journald

    @classmethod
    def default(cls) -> SiteModel:
        return _default_site()

    def pool(self, name: str) -> Pool:
        return next(p for p in self.pools if p.name == name)

    def door(self, name: str) -> Door:
        return next(d for d in self.doors if d.name == name)

    def disk_pools(self, group: str) -> tuple[Pool, ...]:
        return tuple(p for p in self.pools if group in p.groups and p.hsm is None)

    def tape_pools(self, role: str) -> tuple[Pool, ...]:
        return tuple(p for p in self.pools if p.tape_role == role)

    def pools_in_domain(self, domain: str) -> tuple[Pool, ...]:
        return tuple(p for p in self.pools if p.domain == domain)


def fill_path(template: str, user: str, bits: int) -> str:
    """A file name from a `VO.paths` template and 60 random bits."""
    return template.format(
        user=user, a=bits & 0x1FFF, b=(bits >> 13) & 0x3FF, c=(bits >> 23) & 0x1F, d=bits >> 28
    )


def java_ip(ip: str) -> str:
    """An address as Java's `InetAddress.getHostAddress` prints it: IPv6 without `::`."""
    addr = ipaddress.ip_address(ip)
    if addr.version == 4:
        return addr.compressed
    return ":".join(f"{int(group, 16):x}" for group in addr.exploded.split(":"))


def _client(ip: str) -> Client:
    addr = ipaddress.ip_address(ip)
    return Client(addr.compressed, java_ip(ip), addr.version == 6)


def _default_site() -> SiteModel:
    berlin, utc, chicago = "Europe/Berlin", "UTC", "America/Chicago"
    pools: list[Pool] = []
    for host_no in (497, 498, 499):
        for n in (1, 2):
            name = f"dcache-xfel{host_no}-{n:02d}"
            groups = ("xfel", "xfel-raw") if n == 1 else ("xfel",)
            pools.append(
                Pool(
                    name,
                    f"xfel{host_no}",
                    f"{name}Domain",
                    groups,
                    f"131.169.41.{host_no - 400}",
                    berlin,
                    520 * TiB,
                )
            )
    for n in (15, 16, 17, 18):
        name = f"cms-pool{n:03d}"
        ip = f"2001:638:700:1041::{n}"
        pools.append(Pool(name, f"cmsnode{n:03d}", f"{name}Domain", ("cms",), ip, utc, 20 * TiB))
    for n in range(1, 7):
        name = f"sync-pool{n:02d}"
        host_no = (n + 1) // 2
        ip = f"131.169.42.{10 + host_no}"
        pools.append(
            Pool(name, f"syncnode{host_no:02d}", f"{name}Domain", ("sync",), ip, berlin, 50 * TiB)
        )
    cta = ("cta", "cta", "org.dcache.nearline.cta.dcache-cta")
    osm = ("osm", "osm", "script")
    for name, hsm, role in (
        ("tape-w01", cta, "store"),
        ("tape-w02", osm, "store"),
        ("tape-r01", cta, "restore"),
        ("tape-r02", osm, "restore"),
    ):
        pools.append(
            Pool(
                name,
                "tapenode01",
                "tapeDomain",
                ("tape",),
                "131.169.43.1",
                chicago,
                40 * TiB,
                hsm,
                role,
            )
        )
    doors = (
        Door(
            "WebDAV-dcache-door02", "webdavDomain", "dcache-door02", berlin, "Https", (1, 1), 2880
        ),
        Door("Xrootd-cms", "xrootd-cmsDomain", "dcache-door01", utc, "Xrootd", (5, 0), 1094),
        Door(
            "NFS-dcache-xfel-door01",
            "nfsDomain",
            "dcache-xfel-door01",
            berlin,
            "NFS4",
            (4, 1),
            2049,
        ),
        Door("GFTP-dcache-door03", "gftpDomain", "dcache-door03", chicago, "GFtp", (2, 0), 2811),
    )
    xfel_clients = tuple(_client(f"131.169.40.{n}") for n in range(10, 22))
    cms_clients = (
        *(_client(f"2001:638:700:1005::1:{n:x}") for n in range(0x50, 0x5A)),
        *(_client(f"188.184.{n}.{n * 7 % 250}") for n in range(30, 34)),
        _client("131.225.188.41"),
    )
    sync_clients = (
        *(_client(f"131.169.12.{n}") for n in range(40, 50)),
        *(_client(f"2001:638:700:10a0::{n:x}") for n in range(0x21, 0x25)),
    )
    vos = (
        VO(
            "xfel",
            "xfel",
            "xfel:raw@osm",
            ("NFS-dcache-xfel-door01", "GFTP-dcache-door03"),
            (User(4021, 3100, "xfelops"), User(4022, 3100, "xfeldaq"), User(0, 0, None)),
            xfel_clients,
            (
                "/pnfs/desy.de/xfel/raw/p{a:04d}/r{b:04d}/RAW-R{b:04d}-DA{c:02d}-S{d:05d}.h5",
                "/pnfs/desy.de/xfel/raw/p{a:04d}/r{b:04d}/RAW-R{b:04d}-DA{c:02d}-S{d:05d}.h5",
                "/pnfs/desy.de/xfel/raw/p{a:04d}/r{b:04d}/RAW-R{b:04d}-DA{c:02d}-S{d:05d}.h5",
                "/pnfs/desy.de/xfel/proc/p{a:04d}/r{b:04d}/CORR-R{b:04d}-AGIPD{c:02d}-S{d:05d}.h5",
                "/pnfs/desy.de/xfel/proc/p{a:04d}/r{b:04d}/CORR-R{b:04d}-AGIPD{c:02d}-S{d:05d}.h5",
                "/pnfs/desy.de/xfel/scratch/{user}/run {b} notes.dat",  # spaces, quoted in logs
                "/pnfs/desy.de/xfel/scratch/{user}/C:\\export\\r{b:04d}.dat",  # a Windows upload
            ),
            (GiB, 16 * GiB),
            0.5,
            "xfel:raw@cta",
            6,
        ),
        VO(
            "cms",
            "cms",
            "cms:tier2@osm",
            ("Xrootd-cms", "WebDAV-dcache-door02", "GFTP-dcache-door03"),
            (
                User(9811, 5063, None, "/cms/Role=production"),
                User(9812, 5063, None, "/cms/Role=pilot"),
                User(20455, 5064, "cmsuser7", "/cms"),
            ),
            cms_clients,
            (
                "/pnfs/desy.de/cms/tier2/store/data/Run2026B/JetMET{c}/AOD/v{b}/{a:06d}/{d:08X}.root",
                "/pnfs/desy.de/cms/tier2/store/mc/RunIII2026/TTto2L2Nu/AODSIM/{a:06d}/{d:08X}.root",
            ),
            (50 << 20, 6 * GiB),
            0.2,
            "cms:tape@osm",
            9,
        ),
        VO(
            "sync",
            "sync",
            "sync:users@osm",
            ("WebDAV-dcache-door02",),
            (
                User(20311, 20000, "jdoe"),
                User(20312, 20000, "asmith"),
                User(20313, 20000, "mmuster"),
            ),
            sync_clients,
            (
                "/pnfs/desy.de/sync/users/{user}/report-{a}.pdf",
                "/pnfs/desy.de/sync/users/{user}/Meeting notes {b}.docx",
                "/pnfs/desy.de/sync/users/{user}/photos/IMG_{d:05d}.jpg",
                '/pnfs/desy.de/sync/users/{user}/draft "v{c}".txt',
                "/pnfs/desy.de/sync/users/{user}/backup\\{b}.tar",
            ),
            (1024, 50 << 20),
            0.4,
            None,
            5,
        ),
    )
    file_logged = frozenset({*(p.domain for p in pools if p.name.startswith("cms-")), "gftpDomain"})
    return SiteModel("desy-sim", tuple(pools), doors, vos, berlin, file_logged)

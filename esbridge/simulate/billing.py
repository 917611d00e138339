"""Billing messages as dCache's pools, doors and billing service publish them to Kafka.

Shapes follow shared/README.md and the samples: `VERSION` on door records, `filesize` on hits,
`isWrite` as a string, null fields left out, key order shuffled. A door transfer is two messages,
the pool's `transfer` then the door's `request` carrying it as `moverInfo`, so that the stream
correlates as a real one does. Pools out of service (see `PoolStates`) get no traffic.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from esbridge.simulate.incidents import PoolStates
from esbridge.simulate.rand import SimRandom
from esbridge.simulate.site import (
    HEAD_DOMAIN,
    VO,
    Client,
    Door,
    Pool,
    SiteModel,
    User,
    fill_path,
    java_ip,
)
from esbridge.simulate.timefmt import ZonedClock

Record = dict[str, Any]
File = tuple[str, str, int]  # pnfsid, path, size

ROOT_SUBJECT = ("UidPrincipal[0]", "GidPrincipal[0,primary]")
MOVER_DROPS = frozenset(
    {"subject", "pnfsid", "fileSize", "billingPath", "storageInfo", "initiator", "localEndpoint"}
)
BANDWIDTH = {  # bytes/s a mover of each protocol typically reaches
    "NFS4": (80e6, 400e6),
    "Xrootd": (10e6, 200e6),
    "Https": (0.5e6, 120e6),
    "GFtp": (20e6, 250e6),
    "Http": (100e6, 600e6),
}
MOVER_FAILURES = (
    (10006, "Mover timed out"),
    (204, "Disk I/O error: Input/output error"),
    (666, "Transfer failed: Connection reset by peer"),
    (666, "Checksum mismatch (expected=1:6a7c3f21, actual=1:0b9d44e2)"),
)
HSM_FAILURES = (
    (41, "HSM script failed: no space left on tape"),
    (42, "HSM script failed: tape drive error"),
    (43, "HSM script failed: disk write error"),
    (10006, "Nearline request timed out"),
)
RATE_KEYS = {
    "read": ("meanReadBandwidth", "readIdle", "readActive"),
    "write": ("meanWriteBandwidth", "writeIdle", "writeActive"),
}
WARNINGS = ("Suspended: No pool online", "Suspended: Stage request limit reached")
RING = 512  # recently written files per community, read back and removed later
PERMUTATIONS = 16  # key orders kept per record shape

# Event thresholds on one uniform draw: mostly door transfers (two messages each).
DOOR, P2P, DOOR_REMOVE, POOL_REMOVE, STORE, RESTORE, HIT = (
    0.66,
    0.71,
    0.75,
    0.80,
    0.84,
    0.87,
    0.99,
)


def _duration(seconds: float) -> str:
    """ISO-8601 duration in seconds only, as the samples have it (`PT0.0764S`, `PT299.1S`)."""
    return f"PT{seconds:.4f}".rstrip("0").rstrip(".") + "S"


class BillingGenerator:
    """Billing messages of one site from one seeded `random.Random`."""

    def __init__(self, site: SiteModel, rng: SimRandom, states: PoolStates) -> None:
        self._rng = rng
        self._states = states
        self._clocks = {
            zone: ZonedClock(zone)
            for zone in {
                site.head_zone,
                *(p.zone for p in site.pools),
                *(d.zone for d in site.doors),
            }
        }
        self._head_clock = self._clocks[site.head_zone]
        self._vo_weights = [vo for vo in site.vos for _ in range(vo.weight)]
        self._java_ip = {p.name: java_ip(p.ip) for p in site.pools}
        self._endpoints = {p.name: f"[{p.ip}]:" if ":" in p.ip else f"{p.ip}:" for p in site.pools}
        self._doors = {vo.name: tuple(site.door(d) for d in vo.doors) for vo in site.vos}
        self._disk = {vo.name: site.disk_pools(vo.group) for vo in site.vos}
        self._enabled = dict(self._disk)
        self._out: frozenset[str] = frozenset()
        self._tape = {role: site.tape_pools(role) for role in ("store", "restore")}
        self._tape_vo = {
            vo.tape_storage.rsplit("@", 1)[1]: vo for vo in site.vos if vo.tape_storage
        }
        self._files: dict[str, list[File]] = {vo.name: [] for vo in site.vos}
        self._subjects: dict[tuple[int, str], list[str]] = {}
        self._perms: dict[tuple[tuple[str, ...], frozenset[str]], list[tuple[str, ...]]] = {}
        self._serial = 0

    def messages(self, times: Iterable[float]) -> Iterator[tuple[float, bytes]]:
        """One message per time; a door request takes the slot after its pool transfer."""
        dumps = orjson.dumps
        pending: tuple[Record, ZonedClock] | None = None
        for t in times:
            if pending is not None:
                record, clock = pending
                record["date"] = clock.iso(t)
                pending = None
            else:
                record, pending = self._event(t)
            yield t, dumps(self._shuffle(record))

    # -- events ---------------------------------------------------------------------------------

    def _event(self, t: float) -> tuple[Record, tuple[Record, ZonedClock] | None]:
        out = self._states.out_of_service(t)
        if out is not self._out:
            self._out = out
            self._enabled = {
                vo: tuple(p for p in pools if p.name not in out) for vo, pools in self._disk.items()
            }
        r = self._rng.random()
        if r < DOOR:
            return self._door_transfer(t)
        if r < P2P:
            record = self._p2p(t)
        elif r < DOOR_REMOVE:
            record = self._door_remove(t)
        elif r < POOL_REMOVE:
            record = self._pool_remove(t)
        elif r < STORE:
            record = self._tape_record(t, "store")
        elif r < RESTORE:
            record = self._tape_record(t, "restore")
        elif r < HIT:
            record = self._hit(t)
        else:
            record = self._warning(t)
        return record, None

    def _door_transfer(self, t: float) -> tuple[Record, tuple[Record, ZonedClock] | None]:
        rng = self._rng
        vo = rng.pick(self._vo_weights)
        door = rng.pick(self._doors[vo.name])
        user = rng.pick(vo.users)
        client = rng.pick(vo.clients)
        write = rng.random() < vo.write_share
        file = self._new_file(vo, user) if write else self._old_file(vo, user)
        pools = self._enabled[vo.name]
        request = self._door_record(
            "request", t, door=door, vo=vo, user=user, client=client, file=file
        )
        session = request["session"]
        r = rng.random()
        if not pools or r < 0.01:
            request["status"] = {"code": 10025, "msg": f"No pool online for {vo.storage}"}
        elif r < 0.03 and not write:
            request["status"] = {"code": 10001, "msg": f"No such file or directory {file[1]}"}
            del request["pnfsid"], request["storageInfo"]
            request["fileSize"] = 0
        elif r < 0.04:
            request["status"] = {"code": 10018, "msg": "Permission denied"}
        else:
            pool = rng.pick(pools)
            transfer = self._transfer(
                t,
                pool=pool,
                door=door,
                client=client,
                vo=vo,
                file=file,
                write=write,
                initiator=session,
            )
            transfer["subject"] = request["subject"]
            request["status"] = transfer["status"]
            request["sessionDuration"] = transfer["transferTime"] + rng.between(5, 400)
            request["moverInfo"] = self._shuffle(transfer, MOVER_DROPS)
            if write and not transfer["status"]["code"]:
                self._remember(vo, file)
            return transfer, (request, self._clocks[door.zone])
        request["date"] = self._clocks[door.zone].iso(t)
        request["sessionDuration"] = rng.between(1, 50)
        return request, None

    def _transfer(
        self,
        t: float,
        *,
        pool: Pool,
        door: Door,
        client: Client,
        vo: VO,
        file: File,
        write: bool,
        initiator: str,
    ) -> Record:
        rng = self._rng
        pnfsid, path, size = file
        size_moved = size if write or rng.random() < 0.7 else int(size * rng.random())
        low, high = BANDWIDTH[door.protocol]
        active = max(size_moved / rng.uniform(low, high), 0.0005)
        idle = active * rng.random() * 0.1
        status = {"code": 0, "msg": ""}
        if rng.random() < 0.03:
            code, msg = rng.pick(MOVER_FAILURES)
            status = {"code": code, "msg": msg}
            size_moved = int(size_moved * rng.random())
            if code == 10006:
                idle += 300.0
        direction = "write" if write else "read"
        bandwidth_key, idle_key, active_key = RATE_KEYS[direction]
        port = 0 if door.protocol == "NFS4" else rng.between(20000, 65000)
        record: Record = {
            "version": "1.0",
            "msgType": "transfer",
            "date": self._clocks[pool.zone].iso(t),
            "queuingTime": 0 if rng.random() < 0.8 else rng.between(1, 60000),
            "cellName": pool.name,
            "cellType": "pool",
            "cellDomain": pool.domain,
            "status": status,
            "session": self._pool_session(pool, t),
            "pnfsid": pnfsid,
            "billingPath": path,
            "fileSize": size,
            "storageInfo": vo.storage,
            "transferSize": size_moved,
            "transferTime": int((active + idle) * 1000),
            "isWrite": direction,
            "isP2p": False,
            "protocolInfo": {
                "protocol": door.protocol,
                "versionMajor": door.version[0],
                "versionMinor": door.version[1],
                "transferTag": "",
                "port": port,
                "host": client.java,
            },
            "initiator": initiator,
            "transferPath": path,
        }
        if size_moved:
            record[bandwidth_key] = round(size_moved / active, 1)
        record[idle_key] = _duration(idle)
        record[active_key] = _duration(active)
        record["localEndpoint"] = self._endpoints[pool.name] + str(rng.between(20000, 34000))
        return record

    def _p2p(self, t: float) -> Record:
        rng = self._rng
        vo = rng.pick(self._vo_weights)
        pools = self._enabled[vo.name]
        if len(pools) < 2:
            return self._warning(t)
        source, target = rng.sample(pools, 2)
        pnfsid, path, size = self._old_file(vo, None)
        seconds = max(size / rng.uniform(*BANDWIDTH["Http"]), 0.001)
        return {
            "version": "1.0",
            "msgType": "transfer",
            "date": self._clocks[target.zone].iso(t),
            "queuingTime": 0,
            "cellName": target.name,
            "cellType": "pool",
            "cellDomain": target.domain,
            "status": {"code": 0, "msg": ""},
            "session": self._pool_session(target, t),
            "subject": list(ROOT_SUBJECT),
            "pnfsid": pnfsid,
            "billingPath": path,
            "fileSize": size,
            "storageInfo": vo.storage,
            "transferSize": size,
            "transferTime": int(seconds * 1000),
            "isWrite": "write",
            "isP2p": True,
            "protocolInfo": {
                "protocol": "Http",
                "versionMajor": 1,
                "versionMinor": 1,
                "transferTag": "",
                "port": rng.between(20000, 34000),
                "host": self._java_ip[source.name],
            },
            "initiator": self._pool_session(source, t - seconds),
            "transferPath": path,
        }

    def _door_remove(self, t: float) -> Record:
        rng = self._rng
        vo = rng.pick(self._vo_weights)
        user = rng.pick(vo.users)
        file = self._old_file(vo, user, forget=True)
        door = rng.pick(self._doors[vo.name])
        record = self._door_record(
            "remove", t, door=door, vo=vo, user=user, client=rng.pick(vo.clients), file=file
        )
        del record["storageInfo"]
        record["date"] = self._clocks[door.zone].iso(t)
        record["sessionDuration"] = rng.between(0, 30)
        if rng.random() < 0.05:
            record["status"] = {"code": 10018, "msg": "Permission denied"}
        return record

    def _pool_remove(self, t: float) -> Record:
        rng = self._rng
        vo = rng.pick(self._vo_weights)
        pools = self._enabled[vo.name]
        if not pools:
            return self._warning(t)
        pool = rng.pick(pools)
        pnfsid, _, size = self._old_file(vo, None, forget=True)
        session = self._pool_session(pool, t)
        sweeper = rng.random() < 0.6
        return {
            "version": "1.0",
            "msgType": "remove",
            "date": self._clocks[pool.zone].iso(t),
            "queuingTime": 0,
            "transaction": session,
            "session": session,
            "cellName": pool.name,
            "cellType": "pool",
            "cellDomain": pool.domain,
            "status": {"code": 0, "msg": "sweeper making space for new data" if sweeper else ""},
            "subject": list(ROOT_SUBJECT),
            "pnfsid": pnfsid,
            "billingPath": "Unknown",
            "fileSize": size,
            "storageInfo": vo.storage,
        }

    def _tape_record(self, t: float, role: str) -> Record:
        rng = self._rng
        pools = [p for p in self._tape[role] if p.name not in self._out]
        if not pools:
            return self._warning(t)
        pool = rng.pick(pools)
        assert pool.hsm is not None
        hsm_type, instance, provider = pool.hsm
        vo = self._tape_vo[hsm_type]
        storage = vo.tape_storage or vo.storage
        pnfsid, path, size = (
            self._new_file(vo, None) if role == "store" else self._old_file(vo, None)
        )
        session = self._pool_session(pool, t)
        status = {"code": 0, "msg": ""}
        if rng.random() < (0.03 if role == "store" else 0.08):
            code, msg = rng.pick(HSM_FAILURES)
            status = {"code": code, "msg": msg}
            locations = []
        elif hsm_type == "cta":
            locations = [f"cta://{instance}/{pnfsid}?archiveid={rng.between(10**5, 10**7)}"]
        else:
            store, group = storage.split("@")[0].split(":")
            bfid = rng.getrandbits(40)
            locations = [f"osm://{instance}/?store={store}&group={group}&bfid={bfid}"]
        return {
            "version": "1.0",
            "msgType": role,
            "date": self._clocks[pool.zone].iso(t),
            "queuingTime": rng.between(0, 3_600_000),
            "transaction": session,
            "session": session,
            "cellName": pool.name,
            "cellType": "pool",
            "cellDomain": pool.domain,
            "status": status,
            "hsm": {"type": hsm_type, "instance": instance, "provider": provider},
            "locations": locations,
            "pnfsid": pnfsid,
            "billingPath": path,
            "fileSize": size,
            "storageInfo": storage,
            "transferTime": int(size / rng.uniform(150e6, 400e6) * 1000),
        }

    def _hit(self, t: float) -> Record:
        rng = self._rng
        vo = rng.pick(self._vo_weights)
        pools = self._enabled[vo.name]
        if not pools:
            return self._warning(t)
        pool = rng.pick(pools)
        door = rng.pick(self._doors[vo.name])
        client = rng.pick(vo.clients)
        pnfsid, path, size = self._old_file(vo, None)
        major, minor = door.version
        return {
            "version": "1.0",
            "msgType": "hit",
            "date": self._clocks[pool.zone].iso(t),
            "cellName": pool.name,
            "cellType": "pool",
            "cellDomain": pool.domain,
            "status": {"code": 0, "msg": ""},
            "pnfsid": pnfsid,
            "filesize": size,
            "billingPath": path,
            "protocol": f"{door.protocol}-{major}.{minor}:{client.ip}:0:{door.name}:"
            f"{door.domain}:{path}",
            "cached": rng.random() < 0.85,
        }

    def _warning(self, t: float) -> Record:
        return {
            "version": "1.0",
            "msgType": "warning",
            "date": self._head_clock.iso(t),
            "cellName": "PoolManager",
            "cellType": "PoolManager",
            "cellDomain": HEAD_DOMAIN,
            "status": {"code": 0, "msg": self._rng.pick(WARNINGS)},
        }

    # -- pieces ---------------------------------------------------------------------------------

    def _door_record(
        self, msg_type: str, t: float, *, door: Door, vo: VO, user: User, client: Client, file: File
    ) -> Record:
        """A door's `request`/`remove` without date, status and duration, which the caller sets."""
        pnfsid, path, size = file
        usec = int(t * 1e6)
        sid = base64.b64encode(self._rng.getrandbits(64).to_bytes(8, "big"))[:11].decode()
        record: Record = {
            "VERSION": "1.0",
            "msgType": msg_type,
            "queuingTime": 0,
            "cellName": door.name,
            "cellType": "door",
            "cellDomain": door.domain,
            "status": {"code": 0, "msg": ""},
            "session": f"door:{door.name}@{door.domain}:{sid}:{usec}",
            "transferPath": path,
            "subject": self._subject(user, client),
            "client": client.ip,
            "clientChain": client.ip,
            "mappedUID": user.uid,
            "mappedGID": user.gid,
            "pnfsid": pnfsid,
            "billingPath": path,
            "fileSize": size,
            "storageInfo": vo.storage,
        }
        if user.name is not None:
            record["owner"] = user.name
        return record

    def _subject(self, user: User, client: Client) -> list[str]:
        key = (user.uid, client.ip)
        subject = self._subjects.get(key)
        if subject is None:
            subject = [f"UidPrincipal[{user.uid}]", f"GidPrincipal[{user.gid},primary]"]
            if user.name is not None:
                subject.append(f"UserNamePrincipal[{user.name}]")
            if user.fqan is not None:
                subject.append(f"FQANPrincipal[{user.fqan},primary]")
            subject.append(f"Origin[{client.ip}]")
            self._subjects[key] = subject
        return subject

    def _pool_session(self, pool: Pool, t: float) -> str:
        self._serial += 1
        return f"pool:{pool.name}@{pool.domain}:{int(t * 1000)}-{self._serial}"

    def _new_file(self, vo: VO, user: User | None) -> File:
        rng = self._rng
        name = (user.name if user is not None else None) or "jdoe"
        path = fill_path(rng.pick(vo.paths), name, rng.getrandbits(60))
        if rng.random() < 0.02:
            pnfsid = f"0001{rng.getrandbits(80):020X}"  # pre-Chimera ids are 24 hex digits
        else:
            pnfsid = f"0000{rng.getrandbits(128):032X}"
        low, high = vo.size_range
        return pnfsid, path, int(low * (high / low) ** rng.random())

    def _old_file(self, vo: VO, user: User | None, *, forget: bool = False) -> File:
        files = self._files[vo.name]
        if not files or self._rng.random() < 0.2:
            return self._new_file(vo, user)
        i = self._rng.between(0, len(files))
        file = files[i]
        if forget:
            files[i] = files[-1]
            files.pop()
        return file

    def _remember(self, vo: VO, file: File) -> None:
        files = self._files[vo.name]
        if len(files) < RING:
            files.append(file)
        else:
            files[self._rng.between(0, RING)] = file

    def _shuffle(self, record: Record, drop: frozenset[str] = frozenset()) -> Record:
        """The keys not in `drop` in one of a few random orders, as consumers must not rely on
        key order. The orders are drawn once per record shape: shuffling each record costs more
        than everything else put together."""
        shape = (tuple(record), drop)
        orders = self._perms.get(shape)
        if orders is None:
            orders = []
            for _ in range(PERMUTATIONS):
                order = [k for k in record if k not in drop]
                self._rng.shuffle(order)
                orders.append(tuple(order))
            self._perms[shape] = orders
        return {k: record[k] for k in orders[self._rng.getrandbits(4)]}

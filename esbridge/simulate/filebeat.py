"""Domain logs and access logs as Filebeat ships them: one JSON event per line (or stack trace).

Domain logs come from journald (`dcache@<domain>`) or, for the domains the site logs to files,
from `/var/log/dcache/<domain>.log`; their line time is local (the `log_zone`), Filebeat's
`@timestamp` UTC, and both name the same second. Access logs are always files.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

import orjson

from esbridge.simulate.incidents import Incident, LogLine, PoolStates
from esbridge.simulate.rand import SimRandom
from esbridge.simulate.site import HEAD_DOMAIN, HEAD_HOST, Client, Door, SiteModel, fill_path
from esbridge.simulate.timefmt import ZonedClock, utc_ms

STACK_SHARE = 0.03
Line = tuple[str, str, list[tuple[str, str]]]  # access-log level, event name, key=value pairs
KAFKA_TIMEOUT = (
    "Failed to send message to kafka: org.apache.kafka.common.errors.TimeoutException: "
    "Expiring {n} record(s) for billing-0:120000 ms has passed since batch creation"
)
POOL_LINES = (  # (mover task in the NDC, or none; text)
    ("PoolDeliverFile", "Transfer failed: Connection reset by peer"),
    ("PoolAcceptFile", "Transfer failed in post-processing: Checksum mismatch"),
    ("", KAFKA_TIMEOUT),
    (
        "",
        "Marking {pnfsid} on {pool} as BROKEN: Checksum mismatch (expected=1:6a7c3f21, "
        "actual=1:0b9d44e2)",
    ),
    ("", "Sweeper failed to free space: no removable files"),
)
DOOR_LINES = {
    "Https": "Transfer of {path} failed: Mover timed out",
    "Xrootd": "Client {ip} disconnected without closing file {path}",
    "NFS4": "Lease expired for client /{ip}",
    "GFtp": "Transfer error: 451 Transfer aborted: Mover timed out",
}
HEAD_LINES = (
    ("PoolManager", "Pool selection failed for {storage}: No pool online"),
    ("PnfsManager", "Slow request: list of {dir} took {ms} ms"),
    (
        "billing",
        "Failed to send message to kafka: org.apache.kafka.common.errors."
        "TimeoutException: Topic billing not present in metadata after 60000 ms.",
    ),
)
DOOR_TRACE = (
    "Uncaught exception in thread http-worker-{n}\n"
    "java.lang.IllegalStateException: Response already committed\n"
    "\tat org.eclipse.jetty.server.Response.sendError(Response.java:389)\n"
    "\tat org.dcache.webdav.DcacheResourceFactory$HttpTransfer.relayData"
    "(DcacheResourceFactory.java:1712)\n"
    "Caused by: java.io.IOException: Broken pipe\n"
    "\tat java.base/sun.nio.ch.SocketDispatcher.write0(Native Method)"
)
POOL_TRACE = (
    "Uncaught exception in thread pool-{n}-thread-3\n"
    "java.lang.RuntimeException: Failed to update the repository\n"
    "\tat org.dcache.pool.repository.v5.ReplicaRepository.setState(ReplicaRepository.java:660)\n"
    "\tat org.dcache.pool.classic.PoolV4.messageArrived(PoolV4.java:1123)\n"
    "Caused by: java.nio.file.FileSystemException: /srv/dcache/{pool}/meta: Read-only file system\n"
    "\tat java.base/sun.nio.fs.UnixException.translateToIOException(UnixException.java:100)"
)


class LogGenerator:
    """Filebeat events of dCache domain logs: routine WARN lines plus the incidents' lines."""

    def __init__(self, site: SiteModel, rng: SimRandom, zone: str, states: PoolStates) -> None:
        self._site = site
        self._rng = rng
        self._clock = ZonedClock(zone)
        self._states = states
        domains = sorted(
            {HEAD_DOMAIN, *(p.domain for p in site.pools), *(d.domain for d in site.doors)}
        )
        self._pids = {domain: rng.between(2000, 60000) for domain in domains}
        self._offsets: dict[str, int] = {}

    def messages(
        self, times: Iterable[float], incidents: Iterable[Incident]
    ) -> Iterator[tuple[float, bytes]]:
        """Routine lines at `times`, the incidents' lines at their own times, in time order."""
        script = sorted(
            ((line.time.timestamp(), line) for incident in incidents for line in incident.lines),
            key=lambda item: item[0],
        )
        i = 0
        for t in times:
            while i < len(script) and script[i][0] <= t:
                yield self._scripted(*script[i])
                i += 1
            yield t, self._routine(t)
        for when, line in script[i:]:
            yield self._scripted(when, line)

    def _scripted(self, t: float, line: LogLine) -> tuple[float, bytes]:
        return t, self.event(
            t, line.domain, line.host, cell=line.cell, ndc=line.ndc, text=line.text
        )

    def event(self, t: float, domain: str, host: str, *, cell: str, ndc: str, text: str) -> bytes:
        """The Filebeat event of one line, journald or file as the site logs `domain`."""
        message = f"{self._clock.log(t)} ({cell}) [{ndc}] {text}"
        event: dict[str, Any] = {"@timestamp": utc_ms(t), "message": message}
        if domain in self._site.file_logged:
            path = f"/var/log/dcache/{domain}.log"
            offset = self._offsets.get(path, 0)
            self._offsets[path] = offset + len(message.encode()) + 1
            event |= {
                "host": {"name": host},
                "input": {"type": "filestream"},
                "log": {"file": {"path": path}, "offset": offset},
            }
        else:
            event |= {
                "host": {"hostname": host, "name": host},
                "input": {"type": "journald"},
                "systemd": {"unit": f"dcache@{domain}.service", "transport": "stdout"},
                "syslog": {
                    "identifier": f"dcache@{domain}",
                    "pid": self._pids[domain],
                    "priority": 6,
                },
            }
        event["agent"] = {"type": "filebeat"}
        return orjson.dumps(event)

    def _routine(self, t: float) -> bytes:
        rng = self._rng
        site = self._site
        r = rng.random()
        pnfsid = f"0000{rng.getrandbits(128):032X}"
        if r < 0.5:
            out = self._states.out_of_service(t)
            pool = rng.pick([p for p in site.pools if p.name not in out] or site.pools)
            if rng.random() < STACK_SHARE:
                ndc, text = "", POOL_TRACE.format(n=rng.between(1, 40), pool=pool.name)
            else:
                task, text = rng.pick(POOL_LINES)
                text = text.format(n=rng.between(1, 500), pnfsid=pnfsid, pool=pool.name)
                door = rng.pick(site.doors)
                ndc = f"door:{door.cell_address}:{_session_id(rng)} {task} {pnfsid}" if task else ""
            return self.event(t, pool.domain, pool.host, cell=pool.name, ndc=ndc, text=text)
        if r < 0.85:
            door = rng.pick(site.doors)
            vo = rng.pick([vo for vo in site.vos if door.name in vo.doors])
            ndc = f"door:{door.cell_address}:{_session_id(rng)}"
            if door.protocol == "Https" and rng.random() < STACK_SHARE * 3:
                text = DOOR_TRACE.format(n=rng.between(1, 200))
            else:
                path = fill_path(rng.pick(vo.paths), "jdoe", rng.getrandbits(60))
                text = DOOR_LINES[door.protocol].format(path=path, ip=rng.pick(vo.clients).ip)
            return self.event(t, door.domain, door.host, cell=door.name, ndc=ndc, text=text)
        cell, text = rng.pick(HEAD_LINES)
        vo = rng.pick(site.vos)
        directory = fill_path(vo.paths[0], "jdoe", rng.getrandbits(60)).rsplit("/", 1)[0]
        text = text.format(storage=vo.storage, dir=directory, ms=rng.between(5000, 60000))
        return self.event(t, HEAD_DOMAIN, HEAD_HOST, cell=cell, ndc="", text=text)


def _session_id(rng: SimRandom) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    return "AAY" + "".join(alphabet[rng.getrandbits(6)] for _ in range(8))


def kv(value: str) -> str:
    """An access-log value: double-quoted, with escapes, when it has a space, quote or newline."""
    if " " in value or '"' in value or "\n" in value:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    return value


def _socket(client: Client, port: int) -> str:
    return f"[{client.ip}]:{port}" if client.v6 else f"{client.ip}:{port}"


WEBDAV = (  # method, weight, outcomes (code, weight)
    ("GET", 50, ((200, 80), (206, 8), (404, 6), (403, 2), (401, 2), (500, 1), (503, 1))),
    ("PUT", 20, ((201, 85), (204, 5), (401, 3), (403, 3), (409, 2), (507, 1), (500, 1))),
    ("PROPFIND", 15, ((207, 90), (404, 8), (401, 2))),
    ("HEAD", 5, ((200, 85), (404, 15))),
    ("DELETE", 6, ((204, 85), (404, 10), (403, 5))),
    ("MKCOL", 2, ((201, 70), (405, 30))),
    ("COPY", 2, ((201, 80), (500, 20))),
)
REASONS = {
    206: "Partial Content",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    500: "Internal Server Error",
    503: "Service Unavailable",
    507: "Insufficient Storage",
}
USER_AGENTS = (
    "rclone/v1.68.1",
    "curl/8.5.0",
    "Mozilla/5.0 (X11; Linux x86_64)",
    "gfal2-util/1.8.1 gfal2/2.22.2 neon/0.0.29",
    "davix/0.8.5 libdavix/0.8.5 neon/0.0.29",
    'Microsoft-WebDAV-MiniRedir/10.0.19045 "Windows"',
)


def _table(rows: Iterable[tuple[Any, int]]) -> list[Any]:
    """A list to draw from uniformly, each entry repeated by its weight."""
    return [value for value, weight in rows for _ in range(weight)]


class AccessGenerator:
    """Filebeat events of access-log lines: mostly WebDAV requests, some xrootd and FTP."""

    def __init__(self, site: SiteModel, rng: SimRandom) -> None:
        self._rng = rng
        self._clocks = {d.name: ZonedClock(d.zone) for d in site.doors}
        self._by_protocol = {d.protocol: d for d in site.doors}
        self._vos = {d.name: [vo for vo in site.vos if d.name in vo.doors] for d in site.doors}
        self._methods = _table((method, weight) for method, weight, _ in WEBDAV)
        self._codes = {method: _table(codes) for method, _, codes in WEBDAV}
        self._offsets: dict[str, int] = {}

    def messages(self, times: Iterable[float]) -> Iterator[tuple[float, bytes]]:
        rng = self._rng
        for t in times:
            r = rng.random()
            protocol = "Https" if r < 0.8 else "Xrootd" if r < 0.92 else "GFtp"
            door = self._by_protocol[protocol]
            vo = rng.pick(self._vos[door.name])
            user = rng.pick(vo.users)
            client = rng.pick(vo.clients)
            path = fill_path(rng.pick(vo.paths), user.name or "jdoe", rng.getrandbits(60))
            session = f"door:{door.cell_address}:{_session_id(rng)}:{int(t * 1e6)}"
            mapped = f"{user.uid}:{user.gid}"
            if protocol == "Https":
                level, event, fields = self._webdav(door, session, path, client, mapped)
            elif protocol == "Xrootd":
                level, event, fields = self._xrootd(session, path, client)
            else:
                level, event, fields = self._ftp(session, path, mapped)
            ts = self._clocks[door.name].access(t)
            pairs = " ".join(f"{k}={kv(v)}" for k, v in fields)
            line = f"level={level} ts={ts} event={event} {pairs}"
            yield t, self._event(t + rng.random() * 1.5, door, line)

    def _webdav(self, door: Door, session: str, path: str, client: Client, mapped: str) -> Line:
        rng = self._rng
        method = rng.pick(self._methods)
        code = rng.pick(self._codes[method])
        fields = [
            ("session", session),
            ("request.method", method),
            ("request.url", f"https://{door.host}.desy.de:{door.port}{quote(path)}"),
            ("socket.remote", _socket(client, rng.between(30000, 65000))),
            ("user-agent", rng.pick(USER_AGENTS)),
        ]
        if code != 401:
            fields.append(("user.mapped", mapped))
        if method in ("GET", "PUT") and code < 300:
            fields.append(("transaction", session))
        fields += [("duration", str(rng.between(1, 5000))), ("response.code", str(code))]
        if code in REASONS and code != 206:
            fields.append(("response.reason", REASONS[code]))
        level = "INFO" if code < 400 else "WARN" if code < 500 else "ERROR"
        return level, "org.dcache.webdav.request", fields

    def _xrootd(self, session: str, path: str, client: Client) -> Line:
        rng = self._rng
        sid = session.split(":")[2]
        if rng.random() < 0.3:
            return (
                "INFO",
                "org.dcache.xrootd.login",
                [
                    ("session", sid),
                    ("socket.remote", _socket(client, rng.between(30000, 65000))),
                    ("user.dn", "/DC=ch/DC=cern/OU=Organic Units/OU=Users/CN=cmsprd/CN=Robot: CMS"),
                ],
            )
        fields = [("session", sid), ("request", "open"), ("path", path), ("mode", "0")]
        fields.append(("options", "0x410"))
        if rng.random() < 0.9:
            return "INFO", "org.dcache.xrootd.request", [*fields, ("response", "ok")]
        name = path.rsplit("/", 1)[1]
        fields += [("response", "error"), ("error.code", "3011")]
        fields.append(("error.msg", f'No such file or directory: "{name}"'))
        return "ERROR", "org.dcache.xrootd.request", fields

    def _ftp(self, session: str, path: str, mapped: str) -> Line:
        rng = self._rng
        command = "STOR" if rng.random() < 0.5 else "RETR"
        if rng.random() < 0.9:
            reply = "226 Transfer complete"
        elif command == "RETR":
            reply = "550 File not found"
        else:
            reply = "451 Transfer aborted: Mover timed out"
        fields = [("session", session), ("command", f"{command} {path}"), ("reply", reply)]
        fields.append(("user.mapped", mapped))
        return ("INFO" if reply[0] == "2" else "WARN"), "org.dcache.ftp.response", fields

    def _event(self, t: float, door: Door, line: str) -> bytes:
        path = f"/var/log/dcache/{door.domain}.access"
        offset = self._offsets.get(path, 0)
        self._offsets[path] = offset + len(line.encode()) + 1
        return orjson.dumps(
            {
                "@timestamp": utc_ms(t),
                "message": line,
                "host": {"name": door.host},
                "input": {"type": "filestream"},
                "log": {"file": {"path": path}, "offset": offset},
                "agent": {"type": "filebeat"},
            }
        )

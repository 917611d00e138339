#!/usr/bin/env bash
# Installs the peers benchmarks/ingest.py --peers can run side by side with esbridge, from
# Debian's packages (root, or sudo): rsyslog with imkafka and omelasticsearch. The system
# rsyslog service the package brings is not used (the benchmark runs a private rsyslogd with
# its own config, pid file and work directory); it is stopped and disabled here when systemd
# runs, so it does not read the machine's logs during a run.
set -euo pipefail
packages=(rsyslog rsyslog-kafka rsyslog-elasticsearch)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo_=()
    ((EUID == 0)) || sudo_=(sudo)
    "${sudo_[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_[@]}" apt-get install -y -qq --no-install-recommends \
        "${missing[@]}"
fi
if [[ -d /run/systemd/system ]]; then
    systemctl disable --now rsyslog.service syslog.socket 2>/dev/null || true
fi
rsyslogd -v | head -1

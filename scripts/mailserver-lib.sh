# shellcheck shell=bash
# mailserver-lib.sh: shared by scripts/mailserver-{start,stop,ctl}.  Sourced,
# not run.  Defines the settings (all overridable from the environment), the
# paths of one lab instance, and the helpers that find, start, stop and probe
# its two master processes.
#
# One instance = one MAILLAB_DIR: Dovecot (IMAP, IMAPS, LMTP with Sieve) and
# Postfix (SMTP), both on 127.0.0.1 only.

MAILLAB_DIR=${MAILLAB_DIR:-/tmp/postdesk-mail}
IMAP_PORT=${IMAP_PORT:-1143}
IMAPS_PORT=${IMAPS_PORT:-1993}
LMTP_PORT=${LMTP_PORT:-2424}
SMTP_PORT=${SMTP_PORT:-2525}
# Submission with SASL through Dovecot (password, XOAUTH2, OAUTHBEARER), and
# the loopback port where the tests' OAuth 2.0 server answers Dovecot's
# token introspection.
# A caller that names only the older four ports (scripts/mailserver-ctl run
# by the tests' MailEnv::ctl) gets the ones this instance was started with.
if [ -z "${SUBMISSION_PORT:-}${OAUTH_PORT:-}" ] && [ -f "${MAILLAB_DIR:-/tmp/postdesk-mail}/env" ]; then
    SUBMISSION_PORT=$(sed -n 's/^SUBMISSION_PORT=//p' "${MAILLAB_DIR:-/tmp/postdesk-mail}/env")
    OAUTH_PORT=$(sed -n 's/^OAUTH_PORT=//p' "${MAILLAB_DIR:-/tmp/postdesk-mail}/env")
fi
SUBMISSION_PORT=${SUBMISSION_PORT:-2587}
OAUTH_PORT=${OAUTH_PORT:-2555}
MAIL_PASSWORD=${MAIL_PASSWORD:-secret}
MAIL_DOMAIN=${MAIL_DOMAIN:-example.test}
# optimized (Dovecot's default) or never (faster, no crash safety)
MAILLAB_FSYNC=${MAILLAB_FSYNC:-optimized}
READY_TIMEOUT=${READY_TIMEOUT:-30}
# The most IMAP sessions at once.  Up to 1000 (the default) each session is a
# process of its own; above, scripts/bench's many-mailbox run (10,000 IDLE
# sessions), an imap process serves several sessions, since 10,000 processes
# of ~2 MiB each would not fit beside the daemon, and the config says so.
MAILLAB_MAX_IMAP=${MAILLAB_MAX_IMAP:-1000}
# The names the lab's server certificate (IMAPS, IMAP and SMTP STARTTLS) is
# valid for, as openssl's subjectAltName takes them.  Tests set another host
# only, to see a certificate for the wrong name refused.
MAILLAB_CERT_NAMES=${MAILLAB_CERT_NAMES:-DNS:localhost,IP:127.0.0.1}

D=$MAILLAB_DIR
DOVECOT_CONF="$D/dovecot/dovecot.conf"
POSTFIX_CONF_DIR="$D/postfix/etc"
DOVECOT_PIDFILE="$D/dovecot/run/master.pid"
POSTFIX_PIDFILE="$D/postfix/spool/pid/master.pid"

log() { printf '[mailserver] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

check_settings() {
    [ "$(id -u)" = 0 ] || die "must run as root (Dovecot and Postfix switch to their own users themselves)"
    case "$D" in /*) ;; *) die "MAILLAB_DIR must be an absolute path, got '$D'" ;; esac
    case "$MAIL_PASSWORD" in *[!A-Za-z0-9]* | "") die "MAIL_PASSWORD must be letters and digits only" ;; esac
}

read_pid() { if [ -s "$1" ]; then tr -dc 0-9 < "$1"; fi; }

# A process counts as alive when it exists and is not a zombie: the daemons
# are re-parented to PID 1, which on these machines reaps orphans slowly, and
# `kill -0` succeeds on a zombie.
alive() {
    local st
    st=$(sed -n 's/^[0-9]* (.*) \([A-Z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# Is PID the master of *this* instance?  A stale pid file may name a reused
# PID that belongs to something else entirely: that one is never signalled.
is_ours() { # dovecot|postfix PID
    case "$1" in
        dovecot) tr '\0' ' ' < "/proc/$2/cmdline" 2>/dev/null | grep -qF -- "-c $DOVECOT_CONF" ;;
        postfix) [ "$(readlink "/proc/$2/cwd" 2>/dev/null)" = "$D/postfix/spool" ] &&
                 [ "$(cat "/proc/$2/comm" 2>/dev/null)" = master ] ;;
        *) return 1 ;;
    esac
}

pidfile_of() {
    case "$1" in
        dovecot) echo "$DOVECOT_PIDFILE" ;;
        postfix) echo "$POSTFIX_PIDFILE" ;;
    esac
}

# running NAME: prints the master PID and succeeds if this instance's NAME runs.
running() {
    local pid
    pid=$(read_pid "$(pidfile_of "$1")")
    [ -n "$pid" ] && alive "$pid" && is_ours "$1" "$pid" && echo "$pid"
}

# A port is ready once it greets: IMAP "* OK", LMTP/SMTP "220".  IMAPS only
# has to accept the TCP connection (the greeting comes after the handshake).
banner_ok() { # PORT EXPECTED-PREFIX
    local line
    { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    if ! IFS= read -r -t 2 line <&3; then
        exec 3<&- 3>&-
        return 1
    fi
    case "$2" in
        "* OK") printf 'a LOGOUT\r\n' >&3 ;;
        *) printf 'QUIT\r\n' >&3 ;;
    esac
    exec 3<&- 3>&-
    case "$line" in "$2"*) return 0 ;; *) return 1 ;; esac
}
tcp_ok() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_closed() { ! tcp_ok "$1"; }

wait_until() { # DESCRIPTION COMMAND...
    local what=$1 deadline
    shift
    deadline=$(($(date +%s) + READY_TIMEOUT))
    until "$@"; do
        [ "$(date +%s)" -lt "$deadline" ] || die "$what: not ready after ${READY_TIMEOUT}s; see $D/log/"
        sleep 0.05
    done
}

wait_ready() { # dovecot|postfix
    case "$1" in
        dovecot)
            wait_until "IMAP 127.0.0.1:$IMAP_PORT" banner_ok "$IMAP_PORT" "* OK"
            wait_until "IMAPS 127.0.0.1:$IMAPS_PORT" tcp_ok "$IMAPS_PORT"
            wait_until "LMTP 127.0.0.1:$LMTP_PORT" banner_ok "$LMTP_PORT" 220
            ;;
        postfix)
            wait_until "SMTP 127.0.0.1:$SMTP_PORT" banner_ok "$SMTP_PORT" 220
            wait_until "submission 127.0.0.1:$SUBMISSION_PORT" banner_ok "$SUBMISSION_PORT" 220
            ;;
    esac
}

# Start one server unless it already runs.  Its config must exist already
# (mailserver-start writes it).  Both are started with stdin, stdout and
# stderr detached: Dovecot's master keeps the stderr it was given open for
# ever, so a caller reading our output through a pipe would never see EOF.
start_server() { # dovecot|postfix
    local pid
    if pid=$(running "$1"); then
        log "$1 already running (pid $pid)"
        return 0
    fi
    case "$1" in
        dovecot)
            [ -f "$DOVECOT_CONF" ] || die "no $DOVECOT_CONF: run scripts/mailserver-start first"
            # A stale pid file naming any live process makes Dovecot refuse to
            # start; a stale anvil-auth-penalty socket stalls the first login
            # for 5 s.  running() said neither belongs to a live master.
            rm -f "$DOVECOT_PIDFILE" "$D/dovecot/run/anvil-auth-penalty"
            /usr/sbin/dovecot -c "$DOVECOT_CONF" </dev/null >/dev/null 2>"$D/log/dovecot-start.err" || {
                cat "$D/log/dovecot-start.err" >&2
                die "dovecot failed to start; see $D/log/dovecot.log"
            }
            ;;
        postfix)
            [ -f "$POSTFIX_CONF_DIR/main.cf" ] || die "no $POSTFIX_CONF_DIR/main.cf: run scripts/mailserver-start first"
            /usr/sbin/postfix -c "$POSTFIX_CONF_DIR" start </dev/null >/dev/null 2>"$D/log/postfix-start.err" || {
                cat "$D/log/postfix-start.err" >&2
                die "postfix failed to start; see $D/log/postfix.log"
            }
            ;;
    esac
}

# Stop one server: SIGTERM to its master only (the master ends its children),
# SIGKILL after 10 s.  Then wait until its ports are closed, so a caller can
# count on "down" meaning down.
stop_server() { # dovecot|postfix
    local name=$1 pid
    pid=$(read_pid "$(pidfile_of "$name")")
    if [ -z "$pid" ] || ! alive "$pid"; then
        log "$name not running"
        return 0
    fi
    if ! is_ours "$name" "$pid"; then
        log "$name: pid $pid is not this instance's master (stale pid file); left alone"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do
        alive "$pid" || break
        sleep 0.05
    done
    if alive "$pid"; then
        log "$name (pid $pid) ignored SIGTERM for 10 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    case "$name" in
        dovecot) wait_until "IMAP 127.0.0.1:$IMAP_PORT closing" port_closed "$IMAP_PORT" ;;
        postfix) wait_until "SMTP 127.0.0.1:$SMTP_PORT closing" port_closed "$SMTP_PORT" ;;
    esac
    log "$name stopped (pid $pid)"
}

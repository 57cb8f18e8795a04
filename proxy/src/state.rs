//! State shared by every connection: startup config, the settings CONFIG SET
//! may change, counters, the client registry and the router.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use arc_swap::ArcSwap;
use dashmap::DashMap;
use tokio_util::sync::CancellationToken;

use crate::config::ProxyConfig;
use crate::databases::Databases;
use crate::resp::Proto;
use crate::route::Router;
use crate::stats::Stats;

/// Settings that `CONFIG SET` may change while running.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Runtime {
    pub(crate) maxclients: u64,
    /// Idle seconds before a client is closed; 0 = never.
    pub(crate) timeout: u64,
    pub(crate) proto_max_bulk_len: u64,
    pub(crate) requirepass: String,
    /// Accepted for tools; Petrel's durability does not depend on it.
    pub(crate) save: String,
    /// Accepted for tools; Petrel's durability does not depend on it.
    pub(crate) appendonly: bool,
    /// Accepted for tools; the proxy holds no data.
    pub(crate) maxmemory: u64,
    pub(crate) maxmemory_policy: String,
    /// Commands slower than this many microseconds go to the slow log (-1 = none).
    pub(crate) slowlog_log_slower_than: i64,
    /// Most entries the slow log keeps.
    pub(crate) slowlog_max_len: u64,
    /// `client-output-buffer-limit`, per class of client.
    pub(crate) output_limits: crate::outlimit::OutputLimits,
    /// Values of the Redis parameters that tune nothing in Petrel, by
    /// canonical name, remembered so CONFIG GET reads back what CONFIG SET set.
    pub(crate) knobs: std::collections::BTreeMap<&'static str, String>,
}

impl Runtime {
    /// The initial settings from the config file.
    pub(crate) fn from_config(cfg: &ProxyConfig) -> Self {
        Runtime {
            maxclients: cfg.maxclients,
            timeout: cfg.client_idle_timeout_secs,
            proto_max_bulk_len: cfg.proto_max_bulk_len,
            requirepass: cfg.requirepass.clone(),
            save: String::new(),
            appendonly: false,
            maxmemory: 0,
            maxmemory_policy: "noeviction".to_string(),
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            output_limits: crate::outlimit::OutputLimits::with_normal_hard(
                cfg.client_output_buffer_limit,
            ),
            knobs: crate::knobs::default_knobs(),
        }
    }
}

/// Everything connections share.
pub(crate) struct Shared {
    pub(crate) config: ProxyConfig,
    pub(crate) config_file: Option<PathBuf>,
    pub(crate) runtime: ArcSwap<Runtime>,
    pub(crate) stats: Stats,
    pub(crate) clients: Clients,
    /// Database 0's router (the configured table).
    pub(crate) router: Arc<Router>,
    /// Every database's router (SELECT n), database 0's included.
    pub(crate) databases: Databases,
    /// ACL users.
    pub(crate) acl: crate::acl::Acl,
    pub(crate) started: Instant,
    /// Random 40-hex id of this process, as Redis's `run_id`.
    pub(crate) run_id: String,
    /// The address actually bound (differs from the config with port 0).
    pub(crate) local_addr: SocketAddr,
    /// Cancelled when the proxy shuts down.
    pub(crate) shutdown: CancellationToken,
    /// Scripts loaded through this proxy (EVALSHA).
    pub(crate) scripts: crate::script::ScriptCache,
    /// The cluster's scripts and function libraries, kept by meta.
    pub(crate) catalog: crate::catalog::Catalog,
    /// Subscribers and their registration with the channel brokers.
    pub(crate) pubsub: Arc<crate::pubsub::PubSub>,
    /// Cluster-wide `CONFIG` parameters, kept by meta.
    pub(crate) settings: crate::settings::ClusterSettings,
}

impl Shared {
    /// The router of the connection's database.
    pub(crate) fn router_for(&self, db: u32) -> Arc<Router> {
        if db == 0 {
            self.router.clone()
        } else {
            self.databases.router(db)
        }
    }

    /// Whether a client that has not authenticated must do so first.
    pub(crate) fn password_required(&self) -> bool {
        !self.acl.default_is_open(&self.runtime.load().requirepass)
    }
}

/// What CLIENT LIST shows about a connection, updated by its task.
#[derive(Clone, Debug)]
pub(crate) struct ClientInfo {
    pub(crate) name: String,
    pub(crate) lib_name: String,
    pub(crate) lib_ver: String,
    pub(crate) last_cmd: &'static str,
    pub(crate) last_active: Instant,
    pub(crate) proto: Proto,
    pub(crate) no_evict: bool,
    /// Unparsed request bytes buffered.
    pub(crate) qbuf: usize,
    /// Unsent reply bytes buffered.
    pub(crate) obl: usize,
    /// The selected database (SELECT).
    pub(crate) db: u32,
    /// Commands queued since MULTI; -1 outside a transaction.
    pub(crate) multi: i64,
    /// Channels, patterns and shard channels subscribed to.
    pub(crate) subs: [usize; 3],
    /// Blocking commands (BLPOP...) waiting.
    pub(crate) blocked: u32,
    /// CLIENT NO-TOUCH ON.
    pub(crate) no_touch: bool,
    /// CLIENT TRACKING ON, and its redirect.
    pub(crate) tracking: bool,
    pub(crate) redirect: Option<u64>,
    /// The ACL user the connection is logged in as.
    pub(crate) user: String,
}

/// One connected client, as other connections and CLIENT KILL see it.
pub(crate) struct ClientHandle {
    pub(crate) id: u64,
    pub(crate) addr: SocketAddr,
    pub(crate) laddr: SocketAddr,
    /// The socket's file descriptor (shown by CLIENT LIST).
    pub(crate) fd: i32,
    pub(crate) created: Instant,
    info: Mutex<ClientInfo>,
    /// Cancelled by CLIENT KILL or shutdown.
    pub(crate) kill: CancellationToken,
    /// CLIENT UNBLOCK's request to this client's blocking command.
    pub(crate) unblock: Arc<crate::unblock::Unblock>,
}

impl ClientHandle {
    /// Whether the client has CLIENT TRACKING on.
    pub(crate) fn is_tracking(&self) -> bool {
        self.info().tracking
    }

    /// Whether a blocking command of the client waits.
    pub(crate) fn is_blocked(&self) -> bool {
        self.info().blocked > 0
    }

    /// Whether the client is subscribed to anything (type `pubsub`).
    pub(crate) fn is_pubsub(&self) -> bool {
        self.info().subs.iter().any(|&n| n > 0)
    }

    /// The mutable part, for reading or updating.
    pub(crate) fn info(&self) -> MutexGuard<'_, ClientInfo> {
        self.info.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One line of CLIENT LIST / CLIENT INFO, fields as Redis 7.
    pub(crate) fn describe(&self) -> String {
        let i = self.info().clone();
        let now = Instant::now();
        let mut flags = String::new();
        if i.blocked > 0 {
            flags.push('b');
        }
        if i.no_touch {
            flags.push('T');
        }
        if i.tracking {
            flags.push('t');
        }
        if i.multi >= 0 {
            flags.push('x');
        }
        if i.no_evict {
            flags.push('e');
        }
        if i.subs.iter().any(|&n| n > 0) {
            flags.push('P');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} \
             qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl={} oll=0 omem={} tot-mem={} \
             events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            i.name,
            now.duration_since(self.created).as_secs(),
            now.duration_since(i.last_active).as_secs(),
            flags,
            i.db,
            i.subs[0],
            i.subs[1],
            i.subs[2],
            i.multi,
            i.qbuf,
            i.obl,
            i.obl,
            i.qbuf + i.obl,
            if i.last_cmd.is_empty() { "NULL" } else { i.last_cmd },
            i.user,
            match (i.tracking, i.redirect) {
                (false, _) => -1,
                (true, r) => r.map_or(0, |r| r as i64),
            },
            i.proto.number(),
            i.lib_name,
            i.lib_ver,
        )
    }
}

/// The registry of connected clients.
#[derive(Default)]
pub(crate) struct Clients {
    map: DashMap<u64, Arc<ClientHandle>>,
    next_id: AtomicU64,
    /// CLIENT PAUSE, in force or not.
    pub(crate) pause: Arc<crate::pause::Pause>,
}

impl Clients {
    /// Registers a new connection and returns its handle (ids start at 1).
    pub(crate) fn register(
        &self,
        addr: SocketAddr,
        laddr: SocketAddr,
        fd: i32,
        parent: &CancellationToken,
    ) -> Arc<ClientHandle> {
        let id = self.next_id.fetch_add(1, Relaxed) + 1;
        let now = Instant::now();
        let handle = Arc::new(ClientHandle {
            id,
            addr,
            laddr,
            fd,
            created: now,
            info: Mutex::new(ClientInfo {
                name: String::new(),
                lib_name: String::new(),
                lib_ver: String::new(),
                last_cmd: "",
                last_active: now,
                proto: Proto::Resp2,
                no_evict: false,
                qbuf: 0,
                obl: 0,
                db: 0,
                multi: -1,
                subs: [0; 3],
                blocked: 0,
                no_touch: false,
                tracking: false,
                redirect: None,
                user: "default".to_string(),
            }),
            kill: parent.child_token(),
            unblock: Arc::default(),
        });
        self.map.insert(id, handle.clone());
        handle
    }

    /// Removes a closed connection.
    pub(crate) fn unregister(&self, id: u64) {
        self.map.remove(&id);
    }

    /// How many clients are connected.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nobody is connected.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every connected client, by id (the guards are released before returning).
    pub(crate) fn snapshot(&self) -> Vec<Arc<ClientHandle>> {
        let mut v: Vec<_> = self.map.iter().map(|e| e.value().clone()).collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// Closes every connection logged in as `user` (its user was deleted,
    /// as Redis does on `ACL DELUSER`) but the one with id `spare`, if any;
    /// returns how many.
    pub(crate) fn kill_user(&self, user: &str, spare: Option<u64>) -> usize {
        let doomed: Vec<Arc<ClientHandle>> = self
            .snapshot()
            .into_iter()
            .filter(|c| Some(c.id) != spare && c.info().user == user)
            .collect();
        for c in &doomed {
            c.kill.cancel();
        }
        doomed.len()
    }

    /// Largest buffered input / output among clients, for INFO.
    pub(crate) fn max_buffers(&self) -> (usize, usize) {
        self.snapshot().iter().fold((0, 0), |(q, o), c| {
            let i = c.info();
            (q.max(i.qbuf), o.max(i.obl))
        })
    }
}

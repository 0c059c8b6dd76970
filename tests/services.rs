//! The services and programs some end-to-end tests need — Redis,
//! RabbitMQ, PostgreSQL, kubectl, the Python client — and the relay that
//! plays one going away. With `CI=true` a missing one fails the test;
//! otherwise the test is skipped with the reason printed.

use std::path::PathBuf;

/// Whether the service at `address` (`host:port`) answers. With `CI=true` a
/// missing service fails the test: CI must exercise every backend. Otherwise
/// the test is skipped with the reason printed.
pub fn service(name: &str, address: &str) -> bool {
    let reachable = address
        .parse::<std::net::SocketAddr>()
        .ok()
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_ok()
        });
    if reachable {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is not reachable at {address}, and CI=true requires it");
    }
    eprintln!("skipped: {name} is not reachable at {address}");
    false
}

/// A program the tests run (kubectl, the Python with the Kubernetes
/// client): its path from `env` (when set) or `PATH`. With `CI=true` a
/// missing one fails the test; otherwise the test is skipped with the
/// reason printed.
pub fn tool(name: &str, env: &str) -> Option<PathBuf> {
    let found = match std::env::var_os(env) {
        Some(path) => Some(PathBuf::from(path)).filter(|p| p.exists()),
        None => std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        }),
    };
    if found.is_some() {
        return found;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is not installed (set {env} or put it on PATH), and CI=true requires it");
    }
    eprintln!("skipped: {name} is not installed (set {env} or put it on PATH)");
    None
}

/// The local Redis, as the tests use it.
pub const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The local RabbitMQ, as the tests use it.
pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// `RPUSH list items…` on the local Redis, as the seed's `redis-cli rpush`.
pub fn redis_rpush(list: &str, items: &[&str]) {
    let client = redis::Client::open(REDIS_URL).expect("redis URL");
    let mut conn = client.get_connection().expect("connecting to Redis");
    redis::cmd("RPUSH")
        .arg(list)
        .arg(items)
        .query::<i64>(&mut conn)
        .expect("RPUSH");
}

/// Runs a Redis command on the local Redis and returns its integer answer.
pub fn redis_int(args: &[&str]) -> i64 {
    let client = redis::Client::open(REDIS_URL).expect("redis URL");
    let mut conn = client.get_connection().expect("connecting to Redis");
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(&mut conn).expect("redis command")
}

/// Declares the durable queue `name` on the local RabbitMQ and publishes
/// `items` to it (persistent), as the seed's `amqp-declare-queue -d` and
/// `amqp-publish` do. Returns the queue's message count afterwards.
pub fn amqp_publish(name: &str, items: &[&str]) -> u32 {
    amqp(name, |channel, name| async move {
        use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
        use lapin::types::FieldTable;
        // With confirms on, each publish returns once the broker has the
        // message, so the count read next on another connection sees it.
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("enabling publisher confirms");
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .queue_declare(name.as_str().into(), durable, FieldTable::default())
            .await
            .expect("declaring the queue");
        for item in items {
            channel
                .basic_publish(
                    "".into(),
                    name.as_str().into(),
                    BasicPublishOptions::default(),
                    item.as_bytes(),
                    lapin::BasicProperties::default().with_delivery_mode(2),
                )
                .await
                .expect("publishing")
                .await
                .expect("publisher confirm");
        }
    });
    amqp_count(name)
}

/// The number of ready messages in the RabbitMQ queue `name`.
pub fn amqp_count(name: &str) -> u32 {
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let out = count.clone();
    amqp(name, |channel, name| async move {
        use lapin::options::QueueDeclareOptions;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let queue = channel
            .queue_declare(
                name.as_str().into(),
                passive,
                lapin::types::FieldTable::default(),
            )
            .await
            .expect("the queue exists");
        out.store(queue.message_count(), std::sync::atomic::Ordering::SeqCst);
    });
    count.load(std::sync::atomic::Ordering::SeqCst)
}

/// Deletes the RabbitMQ queue `name`.
pub fn amqp_delete(name: &str) {
    amqp(name, |channel, name| async move {
        let _ = channel
            .queue_delete(
                name.as_str().into(),
                lapin::options::QueueDeleteOptions::default(),
            )
            .await;
    });
}

fn amqp<F, Fut>(name: &str, f: F)
where
    F: FnOnce(lapin::Channel, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    runtime.block_on(async {
        let conn = lapin::Connection::connect(AMQP_URL, lapin::ConnectionProperties::default())
            .await
            .expect("connecting to RabbitMQ");
        let channel = conn.create_channel().await.expect("a channel");
        f(channel, name.to_owned()).await;
        let _ = conn.close(200, "done".into()).await;
    });
}

/// A TCP relay in front of a service, which a test can cut and restore to
/// play a broker that goes away: while cut, open connections are shut down
/// and new ones are accepted and closed at once.
pub struct Proxy {
    /// `host:port` to connect to instead of the service.
    pub address: String,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    /// Relays a free loopback port to `upstream`.
    pub fn start(upstream: &str) -> Proxy {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the proxy");
        listener.set_nonblocking(true).expect("non-blocking");
        let address = listener.local_addr().expect("proxy address").to_string();
        let proxy = Proxy {
            address,
            up: Default::default(),
            stop: Default::default(),
            open: Default::default(),
        };
        proxy.up.store(true, Ordering::SeqCst);
        let (up, stop, open) = (proxy.up.clone(), proxy.stop.clone(), proxy.open.clone());
        let upstream = upstream.to_owned();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(_) => {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        continue;
                    }
                };
                if !up.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let Ok(server) = std::net::TcpStream::connect(&upstream) else {
                    continue;
                };
                client.set_nonblocking(false).expect("blocking relay");
                let mut open = open.lock().expect("open connections");
                for (from, to) in [(&client, &server), (&server, &client)] {
                    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
                open.extend([client, server]);
            }
        });
        proxy
    }

    /// The service goes away: every relayed connection is closed, and new
    /// ones are closed as soon as they are accepted.
    pub fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for stream in self.open.lock().expect("open connections").drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// The service is back for new connections.
    pub fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A database of its own on the local PostgreSQL (`WASMJOB_TEST_POSTGRES`,
/// default `postgres://postgres@127.0.0.1:5432/test`), dropped with this
/// value: each cluster test starts from an empty cluster.
pub struct PgDatabase {
    admin: String,
    name: String,
    /// The database's URL, for `serve --store`.
    pub url: String,
}

impl PgDatabase {
    /// A fresh database, or `None` when PostgreSQL is not reachable (see
    /// [`service`]: with `CI=true` that fails the test).
    pub fn create() -> Option<PgDatabase> {
        if !service("PostgreSQL", "127.0.0.1:5432") {
            return None;
        }
        let admin = std::env::var("WASMJOB_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let mut client =
            postgres::Client::connect(&admin, postgres::NoTls).expect("connecting to PostgreSQL");
        let name = unique("wasmjob_e2e").replace('-', "_");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("creating a test database");
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        Some(PgDatabase { admin, name, url })
    }

    /// A connection to the database, to look at what the nodes wrote.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connecting to PostgreSQL")
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name));
        }
    }
}

/// A CNCF distribution registry (Debian's `docker-registry`) on a free
/// loopback port with its storage in a temporary directory, stopped when
/// dropped. `None` (the test skipped, or failed under `CI=true`) when the
/// program is not installed.
pub struct Registry {
    child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub address: String,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts one and waits until it answers.
    pub fn start() -> Option<Registry> {
        Registry::start_with(None)
    }

    /// Starts one that takes only `user` and `password` (htpasswd basic
    /// auth), and waits until it answers.
    pub fn with_login(user: &str, password: &str) -> Option<Registry> {
        Registry::start_with(Some((user, password)))
    }

    fn start_with(login: Option<(&str, &str)>) -> Option<Registry> {
        let program = tool("docker-registry", "WASMJOB_DOCKER_REGISTRY")?;
        let dir = tempfile::tempdir().expect("a registry directory");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let address = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {address}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = login {
            let hash = bcrypt::hash(password, 5).expect("a bcrypt hash");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, format!("{user}:{hash}\n")).expect("the htpasswd file");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: wasmjob-tests\n    path: {}\n",
                file.display()
            ));
        }
        let file = dir.path().join("config.yml");
        std::fs::write(&file, config).expect("the registry's config");
        let log = std::fs::File::create(dir.path().join("access.log")).expect("a log file");
        let child = std::process::Command::new(program)
            .arg("serve")
            .arg(&file)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting docker-registry");
        let registry = Registry {
            child,
            address,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(&registry.address).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "docker-registry did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(registry)
    }
}

impl Registry {
    /// How many requests for `repository`'s manifests the registry's
    /// access log shows.
    pub fn manifest_requests(&self, repository: &str) -> usize {
        let log = std::fs::read_to_string(self._dir.path().join("access.log")).unwrap_or_default();
        let uri = format!("/v2/{repository}/manifests/");
        log.lines()
            .filter(|l| l.contains("response completed") && l.contains(&uri))
            .count()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

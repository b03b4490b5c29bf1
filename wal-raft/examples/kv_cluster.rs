//! A 3-node openraft cluster in one process, each node's Raft log a `WalLogStore` in a
//! directory of its own, with an in-memory key-value state machine.
//!
//! It writes keys, stops a follower, writes more, restarts the follower from its
//! directory, and checks that it catches up and holds every key. Exits 0 when it does.
//!
//! ```sh
//! cargo run -p wal-raft --example kv_cluster
//! ```
#![allow(clippy::print_stdout, reason = "an example reports on stdout")]

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::storage::{RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Config, EntryPayload, LogId, Raft, RaftNetwork, RaftNetworkFactory,
    RaftSnapshotBuilder, SnapshotMeta, SnapshotPolicy, StorageError, StorageIOError,
    StoredMembership,
};
use serde::{Deserialize, Serialize};
use wal_raft::WalLogStore;

/// A client request: set `key` to `value`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Set {
    key: String,
    value: String,
}

openraft::declare_raft_types!(
    /// The example's types: requests are `Set`, responses the previous value.
    pub TypeConfig: D = Set, R = Option<String>
);

type NodeId = u64;
type Store = WalLogStore<TypeConfig>;

// ---------------------------------------------------------------------------------------
// The state machine: a map in memory, rebuilt on restart by re-applying the log.

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct KvData {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    kv: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct KvInner {
    data: KvData,
    snapshot: Option<(SnapshotMeta<NodeId, BasicNode>, Vec<u8>)>,
}

/// The key-value state machine (cheap to clone: the builder of snapshots is a clone).
#[derive(Debug, Default, Clone)]
struct Kv(Arc<Mutex<KvInner>>);

impl Kv {
    fn get(&self, key: &str) -> Option<String> {
        self.0.lock().unwrap().data.kv.get(key).cloned()
    }
}

impl RaftSnapshotBuilder<TypeConfig> for Kv {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let mut inner = self.0.lock().unwrap();
        let bytes = postcard::to_stdvec(&inner.data)
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        let meta = SnapshotMeta {
            last_log_id: inner.data.last_applied,
            last_membership: inner.data.membership.clone(),
            snapshot_id: format!("{:?}", inner.data.last_applied),
        };
        inner.snapshot = Some((meta.clone(), bytes.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for Kv {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        let inner = self.0.lock().unwrap();
        Ok((inner.data.last_applied, inner.data.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Option<String>>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = openraft::Entry<TypeConfig>> + Send,
    {
        let mut inner = self.0.lock().unwrap();
        let mut out = Vec::new();
        for entry in entries {
            inner.data.last_applied = Some(entry.log_id);
            out.push(match entry.payload {
                EntryPayload::Normal(Set { key, value }) => inner.data.kv.insert(key, value),
                EntryPayload::Membership(m) => {
                    inner.data.membership = StoredMembership::new(Some(entry.log_id), m);
                    None
                }
                EntryPayload::Blank => None,
            });
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = snapshot.into_inner();
        let data = postcard::from_bytes(&bytes)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let mut inner = self.0.lock().unwrap();
        inner.data = data;
        inner.snapshot = Some((meta.clone(), bytes));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let inner = self.0.lock().unwrap();
        Ok(inner.snapshot.clone().map(|(meta, bytes)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}

// ---------------------------------------------------------------------------------------
// The network: calls go straight to the target's `Raft` handle; a stopped node is
// unreachable.

#[derive(Clone, Default)]
struct Router(Arc<Mutex<BTreeMap<NodeId, Raft<TypeConfig>>>>);

impl Router {
    fn node(&self, id: NodeId) -> Result<Raft<TypeConfig>, Unreachable> {
        let nodes = self.0.lock().unwrap();
        nodes.get(&id).cloned().ok_or_else(|| {
            Unreachable::new(&std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                format!("node {id} is down"),
            ))
        })
    }
}

struct Connection {
    router: Router,
    target: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Connection {
        Connection {
            router: self.clone(),
            target,
        }
    }
}

type Rpc<T, E = RaftError<NodeId>> = Result<T, RPCError<NodeId, BasicNode, E>>;

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<NodeId>> {
        let raft = self.router.node(self.target)?;
        raft.append_entries(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Rpc<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        let raft = self.router.node(self.target)?;
        raft.install_snapshot(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Rpc<VoteResponse<NodeId>> {
        let raft = self.router.node(self.target)?;
        raft.vote(rpc)
            .await
            .map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

// ---------------------------------------------------------------------------------------

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A running node: its Raft handle and its state machine.
struct Node {
    raft: Raft<TypeConfig>,
    kv: Kv,
}

async fn start(id: NodeId, dir: &Path, router: &Router) -> Result<Node, BoxError> {
    let config = Config {
        cluster_name: "kv".into(),
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        // The state machine lives in memory and is rebuilt from the log at each start, so
        // the log is never purged behind a snapshot.
        snapshot_policy: SnapshotPolicy::Never,
        ..Default::default()
    }
    .validate()?;
    let dir = dir.to_owned();
    let mut store = tokio::task::spawn_blocking(move || Store::open(dir)).await??;
    let state = store.get_log_state().await?;
    let vote = store.read_vote().await?;
    println!(
        "node {id}: log opened from its directory: last log id {}, vote {}",
        state.last_log_id.map_or("none".into(), |l| l.to_string()),
        vote.map_or("none".into(), |v| v.to_string()),
    );
    let kv = Kv::default();
    let raft = Raft::new(id, Arc::new(config), router.clone(), store, kv.clone()).await?;
    router.0.lock().unwrap().insert(id, raft.clone());
    Ok(Node { raft, kv })
}

async fn leader_of(node: &Node) -> Result<NodeId, BoxError> {
    let m = node
        .raft
        .wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.current_leader.is_some(), "a leader")
        .await?;
    Ok(m.current_leader.expect("waited for it"))
}

async fn write(
    nodes: &BTreeMap<NodeId, Node>,
    keys: std::ops::Range<u32>,
) -> Result<u64, BoxError> {
    let any = nodes.values().next().expect("a running node");
    let leader = &nodes[&leader_of(any).await?];
    let mut last = 0;
    for i in keys {
        let req = Set {
            key: format!("key-{i:03}"),
            value: format!("value-{i}"),
        };
        last = leader.raft.client_write(req).await?.log_id.index;
    }
    Ok(last)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let root = tempfile::tempdir()?;
    let dir_of = |id: NodeId| -> PathBuf { root.path().join(format!("node-{id}")) };
    let router = Router::default();
    let mut nodes = BTreeMap::new();
    for id in 1..=3 {
        nodes.insert(id, start(id, &dir_of(id), &router).await?);
    }
    let members: BTreeMap<NodeId, BasicNode> =
        (1..=3).map(|id| (id, BasicNode::default())).collect();
    nodes[&1].raft.initialize(members).await?;
    let leader = leader_of(&nodes[&1]).await?;
    println!("cluster of 3 up, leader: node {leader}");

    let last = write(&nodes, 0..50).await?;
    println!("wrote key-000..key-049 (last log index {last})");

    // Stop a follower: its Raft task ends and its log closes.
    let down = (1..=3).find(|&id| id != leader).expect("two followers");
    let stopped = nodes.remove(&down).expect("running");
    router.0.lock().unwrap().remove(&down);
    stopped.raft.shutdown().await?;
    drop(stopped);
    println!("stopped node {down}");

    let last = write(&nodes, 50..100).await?;
    println!("wrote key-050..key-099 with node {down} down (last log index {last})");

    // Restart it from its directory: it recovers its log, rebuilds its state machine from
    // it, and catches up from the leader.
    let node = start(down, &dir_of(down), &router).await?;
    node.raft
        .wait(Some(Duration::from_secs(20)))
        .applied_index_at_least(Some(last), "catch up")
        .await?;
    println!("node {down} restarted and caught up to log index {last}");

    let missing: Vec<u32> = (0..100)
        .filter(|i| node.kv.get(&format!("key-{i:03}")) != Some(format!("value-{i}")))
        .collect();
    if !missing.is_empty() {
        return Err(format!("node {down} lacks keys {missing:?}").into());
    }
    println!("node {down} holds all 100 keys");

    nodes.insert(down, node);
    for node in nodes.values() {
        node.raft.shutdown().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// `cargo test` runs the whole scenario too (the example is built with the test
    /// harness: `test = true` in Cargo.toml), so the example cannot rot.
    #[test]
    fn the_scenario_runs_and_every_key_survives_the_restart() {
        super::main().unwrap();
    }
}

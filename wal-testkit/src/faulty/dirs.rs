//! Directory operations: which file each name holds, the creations, removals and renames
//! no directory sync has covered yet, and undoing some of them in a crash.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use wal_core::Backend;

use super::{FileId, Rng};

/// The names the backend has seen and the directory operations not yet durable.
///
/// Invariant: no durable operation follows a pending one on the same name (see
/// [`Namespace::synced_dir`]), so undoing pending operations never contradicts a durable
/// one.
#[derive(Debug, Default)]
pub(super) struct Namespace {
    /// The file each known name holds now.
    names: HashMap<PathBuf, FileId>,
    next_id: u64,
    /// Pending operations, oldest first.
    ops: Vec<DirOp>,
    next_seq: u64,
    /// Temporary directories holding removed and replaced files, by the directory they
    /// are made in (the parent of the directory the files were in).
    stash_dirs: HashMap<PathBuf, tempfile::TempDir>,
}

#[derive(Debug)]
struct DirOp {
    seq: u64,
    kind: OpKind,
    /// The directories a `sync_dir` of which this operation still waits for.
    pending: Vec<PathBuf>,
}

#[derive(Debug)]
enum OpKind {
    Create {
        path: PathBuf,
    },
    Remove {
        path: PathBuf,
        file: FileId,
        /// A link to the removed file, to bring it back.
        stash: PathBuf,
    },
    Rename {
        from: PathBuf,
        to: PathBuf,
        file: FileId,
        /// The file `to` held before, and a link to it.
        replaced: Option<(FileId, PathBuf)>,
    },
}

impl OpKind {
    /// The names the operation changed.
    fn names(&self) -> impl Iterator<Item = &Path> {
        let (a, b) = match self {
            Self::Create { path } | Self::Remove { path, .. } => (path, None),
            Self::Rename { from, to, .. } => (from, Some(to)),
        };
        std::iter::once(a.as_path()).chain(b.map(PathBuf::as_path))
    }

    fn stash(&self) -> Option<&Path> {
        match self {
            Self::Create { .. } => None,
            Self::Remove { stash, .. } => Some(stash),
            Self::Rename { replaced, .. } => replaced.as_ref().map(|(_, s)| s.as_path()),
        }
    }

    /// Undoes the operation, given that every later one on its names is undone already.
    fn undo(&self, inner: &dyn Backend, names: &mut HashMap<PathBuf, FileId>) -> io::Result<()> {
        match self {
            Self::Create { path } => {
                inner.remove(path)?;
                names.remove(path);
            }
            Self::Remove { path, file, stash } => {
                restore(stash, path)?;
                names.insert(path.clone(), *file);
            }
            Self::Rename {
                from,
                to,
                file,
                replaced,
            } => {
                inner.rename(to, from)?;
                names.remove(to);
                names.insert(from.clone(), *file);
                if let Some((old, stash)) = replaced {
                    restore(stash, to)?;
                    names.insert(to.clone(), *old);
                }
            }
        }
        Ok(())
    }
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_owned).unwrap_or_default()
}

/// Puts a stashed file back under `path`.
fn restore(stash: &Path, path: &Path) -> io::Result<()> {
    if std::fs::rename(stash, path).is_ok() {
        return Ok(());
    }
    // The stash may be on another filesystem (no hard link was possible): copy it.
    std::fs::copy(stash, path).map(drop)
}

/// Deletes a stashed file that can no longer come back.
fn discard(stash: &Path) {
    if let Err(e) = std::fs::remove_file(stash) {
        // Harmless: the whole stash directory goes at the next crash or with the backend.
        tracing::debug!(error = %e, path = %stash.display(), "could not delete a stashed file");
    }
}

impl Namespace {
    /// The file `path` holds, known from now on if it was not.
    pub(super) fn id_of(&mut self, path: &Path) -> FileId {
        if let Some(&id) = self.names.get(path) {
            return id;
        }
        let id = self.new_id();
        self.names.insert(path.to_owned(), id);
        id
    }

    fn new_id(&mut self) -> FileId {
        self.next_id += 1;
        FileId(self.next_id)
    }

    /// The sequence number the next operation gets: a directory sync started now covers
    /// every operation numbered below it.
    pub(super) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    fn push(&mut self, kind: OpKind) {
        let mut pending: Vec<PathBuf> = kind.names().map(parent).collect();
        pending.dedup();
        self.ops.push(DirOp {
            seq: self.next_seq,
            kind,
            pending,
        });
        self.next_seq += 1;
    }

    /// A new file was created at `path`.
    pub(super) fn created(&mut self, path: &Path) -> FileId {
        let id = self.new_id();
        self.names.insert(path.to_owned(), id);
        self.push(OpKind::Create {
            path: path.to_owned(),
        });
        id
    }

    /// Removes `path` through `inner`, keeping a link to the file so a crash can bring it
    /// back.
    pub(super) fn remove(&mut self, inner: &dyn Backend, path: &Path) -> io::Result<()> {
        let file = self.id_of(path);
        let stash = self.stash(path, file)?;
        if let Err(e) = inner.remove(path) {
            discard(&stash);
            return Err(e);
        }
        self.names.remove(path);
        self.push(OpKind::Remove {
            path: path.to_owned(),
            file,
            stash,
        });
        Ok(())
    }

    /// Renames `from` to `to` through `inner`, keeping a link to a file `to` replaces.
    pub(super) fn rename(&mut self, inner: &dyn Backend, from: &Path, to: &Path) -> io::Result<()> {
        if from == to {
            return inner.rename(from, to);
        }
        let file = self.id_of(from);
        let replaced = match std::fs::symlink_metadata(to) {
            Ok(_) => {
                let old = self.id_of(to);
                Some((old, self.stash(to, old)?))
            }
            Err(_) => None,
        };
        if let Err(e) = inner.rename(from, to) {
            if let Some((_, stash)) = &replaced {
                discard(stash);
            }
            return Err(e);
        }
        self.names.remove(from);
        self.names.insert(to.to_owned(), file);
        self.push(OpKind::Rename {
            from: from.to_owned(),
            to: to.to_owned(),
            file,
            replaced,
        });
        Ok(())
    }

    /// Links (or, where links are impossible, copies) the file at `path` into a temporary
    /// directory beside its directory.
    fn stash(&mut self, path: &Path, file: FileId) -> io::Result<PathBuf> {
        let home = parent(&parent(path));
        let home = if home.as_os_str().is_empty() {
            std::env::temp_dir()
        } else {
            home
        };
        let dir = match self.stash_dirs.entry(home) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let made = tempfile::Builder::new()
                    .prefix(".faulty-stash-")
                    .tempdir_in(e.key())
                    .or_else(|_| tempfile::Builder::new().prefix(".faulty-stash-").tempdir())?;
                e.insert(made)
            }
        };
        let stash = dir.path().join(format!("{}-{}", file.0, self.next_seq));
        match std::fs::hard_link(path, &stash) {
            Ok(()) => Ok(stash),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(e),
            Err(_) => std::fs::copy(path, &stash).map(|_| stash),
        }
    }

    /// A sync of `dir` that started before operation `upto` succeeded: every earlier
    /// operation in `dir` is durable, and so is every operation before a durable one on
    /// the same name.
    pub(super) fn synced_dir(&mut self, dir: &Path, upto: u64) {
        for op in self.ops.iter_mut().filter(|op| op.seq < upto) {
            op.pending.retain(|d| d != dir);
        }
        let mut durable_names: HashSet<PathBuf> = HashSet::new();
        for op in self.ops.iter_mut().rev() {
            if op.pending.is_empty() || op.kind.names().any(|n| durable_names.contains(n)) {
                op.pending.clear();
                durable_names.extend(op.kind.names().map(Path::to_owned));
            }
        }
        self.ops.retain(|op| {
            if !op.pending.is_empty() {
                return true;
            }
            if let Some(stash) = op.kind.stash() {
                discard(stash);
            }
            false
        });
    }

    /// A power loss: undoes each pending operation with chance `undo` (none if `None`),
    /// and every later one on the same names with it. Forgets everything, and returns the
    /// name each known file is left under.
    pub(super) fn crash(
        &mut self,
        inner: &dyn Backend,
        rng: &mut Rng,
        undo: Option<f64>,
    ) -> io::Result<HashMap<FileId, PathBuf>> {
        let ops = std::mem::take(&mut self.ops);
        let mut names = std::mem::take(&mut self.names);
        let mut undone = vec![false; ops.len()];
        if let Some(p) = undo {
            let mut tainted: HashSet<&Path> = HashSet::new();
            for (op, undone) in ops.iter().zip(&mut undone) {
                if op.kind.names().any(|n| tainted.contains(n)) || rng.chance(p) {
                    *undone = true;
                    tainted.extend(op.kind.names());
                }
            }
        }
        let mut touched = BTreeSet::new();
        for (op, _) in ops.iter().zip(&undone).rev().filter(|(_, &u)| u) {
            op.kind.undo(inner, &mut names)?;
            touched.extend(op.kind.names().map(parent));
        }
        for dir in &touched {
            inner.sync_dir(dir)?;
        }
        // Removals that stand are final: their stashed files go with their directory.
        self.stash_dirs.clear();
        Ok(names.into_iter().map(|(path, id)| (id, path)).collect())
    }
}

//! `wal truncate`: forgets the entries of a topic below an offset (`truncate_before`), and
//! deletes the segments that frees.

use crate::cli::TruncateArgs;
use crate::cmd::consumers::no_topic;
use crate::cmd::reclaim::Segments;
use crate::error::{wal_error, CliResult, OK};
use crate::logdir;

/// Opens the log, truncates the topic, reclaims, closes the log (which makes the
/// truncation durable), and says what went.
pub fn run(args: &TruncateArgs) -> CliResult {
    let dir = &args.dir;
    logdir::require_log(dir, false)?;
    let segments = Segments::of(dir);
    logdir::change_log(dir, |wal| {
        let topics = wal.topics();
        if !topics.iter().any(|t| t == &args.topic) {
            return Err(no_topic(
                dir,
                &args.topic,
                topics.iter().map(String::as_str),
            ));
        }
        let before = wal.oldest_offset(&args.topic).unwrap_or(0);
        let next = wal.get_topic_entry_count(&args.topic);
        if args.before > next {
            // The engine would make the topic start there (what a Raft log does after a
            // snapshot); from the command line that is far more likely a typo.
            let refused = wal::Error::OffsetNotFound {
                topic: args.topic.clone(),
                offset: args.before,
                next,
            };
            return Err(wal_error(dir, &refused));
        }
        wal.truncate_before(&args.topic, args.before)
            .map_err(|e| wal_error(dir, &e))?;
        // The log's background thread may already be deleting what this freed: reclaim
        // now, so that what is gone when the command ends does not depend on timing.
        wal.reclaim().map_err(|e| wal_error(dir, &e))?;
        let oldest = wal.oldest_offset(&args.topic).unwrap_or(0);
        let next = wal.get_topic_entry_count(&args.topic);
        Ok(if oldest > before {
            format!(
                "topic {:?}: offsets {before}..{oldest} truncated; it now holds \
                 {oldest}..{next} (durable)",
                args.topic
            )
        } else {
            format!(
                "topic {:?}: nothing below {} was held (it holds {oldest}..{next})",
                args.topic, args.before
            )
        })
    })?;
    segments.report_removed(dir, &mut std::io::stdout().lock())?;
    Ok(OK)
}

//! `wal consumers`: the named consumers with their position and lag (read-only), and
//! moving or deleting one (through the engine, with the log's lock).

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::cli::{ConsumerArgs, ConsumersAction, ConsumersArgs, ResetArgs, ResetTo};
use crate::error::{wal_error, CliError, CliResult, OK};
use crate::logdir::{self, Diagnosis};

/// Lists the consumers, or runs the action asked for.
pub fn run(args: &ConsumersArgs, progress: bool) -> CliResult {
    match &args.action {
        Some(ConsumersAction::Reset(reset_args)) => reset(reset_args),
        Some(ConsumersAction::Delete(consumer)) => delete(consumer),
        None => match &args.dir {
            Some(dir) => list(args, dir, progress),
            // clap requires DIR when no action is given.
            None => Err(CliError::Unusable("a log directory is required".into())),
        },
    }
}

/// One row of the listing.
struct Row {
    topic: String,
    consumer: String,
    position: u64,
    lag: u64,
}

fn list(args: &ConsumersArgs, dir: &Path, progress: bool) -> CliResult {
    let ins = logdir::scan(dir, progress)?;
    let diagnosis = Diagnosis::of(&ins);
    if diagnosis.exit_code() != OK {
        eprintln!(
            "wal: warning: the log is not clean: {}; positions are as recovery would keep \
             them (run `wal verify`)",
            diagnosis.summary()
        );
    }
    let topics = ins.topics();
    if let Some(name) = &args.topic {
        if !topics.iter().any(|t| &t.name == name) {
            return Err(no_topic(dir, name, topics.iter().map(|t| t.name.as_str())));
        }
    }
    let rows: Vec<Row> = topics
        .iter()
        .filter(|t| args.topic.as_ref().is_none_or(|name| &t.name == name))
        .flat_map(|t| {
            t.cursors
                .iter()
                .filter(|(name, _)| !name.is_empty())
                .map(|(name, position)| Row {
                    topic: t.name.clone(),
                    consumer: name.clone(),
                    position: *position,
                    lag: t.next_offset.saturating_sub(*position),
                })
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        let value: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "topic": r.topic,
                    "consumer": r.consumer,
                    "position": r.position,
                    "lag": r.lag,
                })
            })
            .collect();
        writeln!(out, "{:#}", serde_json::Value::from(value))?;
        return Ok(OK);
    }
    if rows.is_empty() {
        eprintln!("wal: no named consumer in {}", dir.display());
        return Ok(OK);
    }
    let width = |f: &dyn Fn(&Row) -> usize, title: &str| {
        rows.iter().map(f).max().unwrap_or(0).max(title.len())
    };
    let tw = width(&|r| r.topic.len(), "TOPIC");
    let cw = width(&|r| r.consumer.len(), "CONSUMER");
    let pw = width(&|r| r.position.to_string().len(), "POSITION");
    writeln!(
        out,
        "{:<tw$}  {:<cw$}  {:>pw$}  {:>8}",
        "TOPIC", "CONSUMER", "POSITION", "LAG"
    )?;
    for r in &rows {
        writeln!(
            out,
            "{:<tw$}  {:<cw$}  {:>pw$}  {:>8}",
            r.topic, r.consumer, r.position, r.lag
        )?;
    }
    Ok(OK)
}

pub fn no_topic<'a>(dir: &Path, name: &str, known: impl Iterator<Item = &'a str>) -> CliError {
    let known: Vec<&str> = known.collect();
    CliError::Unusable(format!(
        "{} has no topic {name:?} (its topics: {})",
        dir.display(),
        if known.is_empty() {
            "none".into()
        } else {
            known.join(", ")
        }
    ))
}

/// Refuses unless `c.name` is a named consumer of `c.topic` in the open log; returns its
/// position.
fn existing(wal: &wal::Wal, c: &ConsumerArgs) -> CliResult<u64> {
    let topics = wal.topics();
    if !topics.iter().any(|t| t == &c.topic) {
        return Err(no_topic(
            &c.dir,
            &c.topic,
            topics.iter().map(String::as_str),
        ));
    }
    let consumers = wal.consumers(&c.topic);
    match consumers.iter().find(|(name, _)| name == &c.name) {
        Some(&(_, position)) => Ok(position),
        None => {
            let known: Vec<&str> = consumers.iter().map(|(n, _)| n.as_str()).collect();
            Err(CliError::Unusable(format!(
                "topic {:?} of {} has no consumer {:?} (its consumers: {})",
                c.topic,
                c.dir.display(),
                c.name,
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )))
        }
    }
}

fn reset(args: &ResetArgs) -> CliResult {
    let c = &args.consumer;
    logdir::change_log(&c.dir, |wal| {
        let from = existing(wal, c)?;
        let to = match args.to {
            ResetTo::Earliest => wal.oldest_offset(&c.topic).unwrap_or(0),
            ResetTo::Latest => wal.get_topic_entry_count(&c.topic),
            ResetTo::Offset(offset) => offset,
        };
        let consumer = wal
            .consumer(&c.topic, &c.name)
            .map_err(|e| wal_error(&c.dir, &e))?;
        consumer.seek(to).map_err(|e| wal_error(&c.dir, &e))?;
        Ok(format!(
            "consumer {:?} of topic {:?}: moved from {from} to {to} (lag {}), durable",
            c.name,
            c.topic,
            wal.get_topic_entry_count(&c.topic).saturating_sub(to)
        ))
    })
}

fn delete(c: &ConsumerArgs) -> CliResult {
    logdir::change_log(&c.dir, |wal| {
        let at = existing(wal, c)?;
        let deleted = wal
            .delete_consumer(&c.topic, &c.name)
            .map_err(|e| wal_error(&c.dir, &e))?;
        if !deleted {
            return Err(CliError::Unusable(format!(
                "consumer {:?} of topic {:?} disappeared before it could be deleted",
                c.name, c.topic
            )));
        }
        Ok(format!(
            "consumer {:?} of topic {:?} (at {at}) deleted, durably: it no longer holds \
             back retention",
            c.name, c.topic
        ))
    })
}

//! The producer/consumer example (`wal/examples/producer_consumer.rs`) in every mode, with
//! a few hundred entries: each consumer gets everything produced, in order, once.

#[path = "../examples/producer_consumer.rs"]
mod example;

#[test]
fn every_mode_consumes_everything_it_produces() {
    for mode in example::MODES {
        let dir = tempfile::tempdir().unwrap();
        let run = example::run(dir.path(), mode, 300).unwrap();
        assert_eq!((run.produced, run.consumed), (300, 300), "{mode:?}");
    }
}

//! The topics of one log, by id and by name.

use std::collections::HashMap;
use std::ops::{Index, IndexMut};

use crate::topic::TopicState;

/// The topics of one log, by id (their index in the list, the id records carry) and by
/// name.
///
/// Invariants: `list[i].id == i` for every topic, and `by_name` maps each topic's name to
/// its id and holds nothing else. Topics are only ever added, with the next id: ids are
/// dense and never reused, as the format requires (a `TopicDef` must name the next id).
#[derive(Debug, Default)]
pub(crate) struct TopicTable {
    by_name: HashMap<String, u32>,
    list: Vec<TopicState>,
}

impl TopicTable {
    /// The id of topic `name`, if it exists.
    pub fn id(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// Topic `name`, if it exists.
    pub fn get(&self, name: &str) -> Option<&TopicState> {
        self.id(name).map(|id| &self[id])
    }

    /// Topic `id`, if it exists (for ids read from disk, which may name no topic).
    pub fn by_id_mut(&mut self, id: u32) -> Option<&mut TopicState> {
        self.list.get_mut(id as usize)
    }

    /// The number of topics, which is also the id the next topic gets.
    pub fn len(&self) -> u32 {
        // Ids are u32 (the record header's topic field), so the count fits.
        self.list.len() as u32
    }

    /// Adds topic `name` with the next id, its first append getting `start`; returns the
    /// id. The caller has checked that the name is new.
    pub fn add(&mut self, name: &str, start: u64) -> u32 {
        debug_assert!(!self.by_name.contains_key(name));
        let id = self.len();
        self.list.push(TopicState::new(id, name.to_owned(), start));
        self.by_name.insert(name.to_owned(), id);
        id
    }

    /// The topics in id order.
    pub fn iter(&self) -> std::slice::Iter<'_, TopicState> {
        self.list.iter()
    }

    /// The topics in id order, mutably (their ids and names stay as they are: the
    /// fields are not reachable to change through the engine's code paths that use this).
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, TopicState> {
        self.list.iter_mut()
    }
}

impl Index<u32> for TopicTable {
    type Output = TopicState;

    /// Topic `id`; ids come from this table, so the topic exists.
    fn index(&self, id: u32) -> &TopicState {
        &self.list[id as usize]
    }
}

impl IndexMut<u32> for TopicTable {
    fn index_mut(&mut self, id: u32) -> &mut TopicState {
        &mut self.list[id as usize]
    }
}

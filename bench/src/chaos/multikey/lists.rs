//! The list-move checker: unique items start in the first list; clients
//! move them between lists in different partitions with `LMOVE` and
//! `RPOPLPUSH`, each of which pops at one partition and pushes at another.
//! Done atomically, a move never loses or copies an item, whatever fails:
//!
//! - every item a move returned is one of the items;
//! - after healing every item is in exactly one list: none lost, none
//!   duplicated, nothing else there.

use std::collections::BTreeMap;
use std::fmt;

use super::record::{Action, LmoveRun, MultiOp, Outcome};

/// An item lost, copied or made up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListViolation {
    /// A move returned something that is not an item.
    Foreign { op: MultiOp, value: String },
    /// After healing the item is in no list.
    Lost { item: String },
    /// After healing the item is there more than once: the list of each copy.
    Duplicated { item: String, lists: Vec<usize> },
    /// After healing a list holds something that is not an item.
    ForeignFinal { list: usize, value: String },
}

/// What the list-move checker found.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListsReport {
    /// Moves that returned an item.
    pub(crate) moved: usize,
    /// Each list's length after healing.
    pub(crate) final_lengths: Option<Vec<usize>>,
    pub(crate) violations: Vec<ListViolation>,
}

impl ListsReport {
    /// No violation.
    pub(crate) fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks a list-move run.
pub(crate) fn check(run: &LmoveRun) -> ListsReport {
    let mut report = ListsReport::default();
    let items: BTreeMap<&str, Vec<usize>> =
        run.items.iter().map(|i| (i.as_str(), Vec::new())).collect();
    for op in &run.ops {
        let (Action::Move { .. }, Outcome::Ok(values)) = (&op.action, &op.outcome) else {
            continue;
        };
        for value in values.iter().flatten() {
            report.moved += 1;
            if !items.contains_key(value.as_str()) {
                report.violations.push(ListViolation::Foreign {
                    op: op.clone(),
                    value: value.clone(),
                });
            }
        }
    }
    let Some(lists) = &run.final_lists else {
        return report;
    };
    report.final_lengths = Some(lists.iter().map(Vec::len).collect());
    let mut found = items;
    for (list, values) in lists.iter().enumerate() {
        for value in values {
            match found.get_mut(value.as_str()) {
                Some(places) => places.push(list),
                None => report.violations.push(ListViolation::ForeignFinal {
                    list,
                    value: value.clone(),
                }),
            }
        }
    }
    for (item, places) in found {
        match places.len() {
            1 => {}
            0 => report.violations.push(ListViolation::Lost {
                item: item.to_string(),
            }),
            _ => report.violations.push(ListViolation::Duplicated {
                item: item.to_string(),
                lists: places,
            }),
        }
    }
    report
}

impl fmt::Display for ListViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListViolation::Foreign { op, value } => {
                writeln!(f, "a move returned {value:?}, which is no item: {op}")
            }
            ListViolation::Lost { item } => {
                writeln!(f, "item {item:?} is in no list after healing (lost)")
            }
            ListViolation::Duplicated { item, lists } => writeln!(
                f,
                "item {item:?} is there {} times after healing (in lists {lists:?})",
                lists.len()
            ),
            ListViolation::ForeignFinal { list, value } => {
                writeln!(f, "list {list} holds {value:?}, which is no item")
            }
        }
    }
}

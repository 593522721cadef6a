//! A tracked file as its checkpoint line records it, and back.

use super::{State, Tracked};
use crate::checkpoint::Entry;
use crate::settings::Format;

impl Tracked {
    /// A file known from the checkpoint, not yet seen.
    pub fn from_entry(e: &Entry, format: Format) -> Tracked {
        let mut t = Tracked::new(e.id, e.path.to_path_buf(), format, e.fingerprint, e.offset);
        t.born = e.born;
        t.size = e.size;
        if e.prior.is_some() || e.copies_until.is_some() {
            let aside = t.aside_mut();
            aside.before_truncation = e.prior;
            aside.copies_until = e.copies_until;
        }
        t.state = match e.retired {
            Some(at) => State::Retired { at },
            None => State::Missing,
        };
        t.unresolved = t.state == State::Missing;
        t
    }

    /// The checkpoint line for this file; `now` stamps a file whose final
    /// line went out this cycle as retired.
    pub fn entry(&self, now: u64) -> Entry {
        Entry {
            id: self.id,
            born: self.born,
            offset: self.cursor.offset,
            size: self.size,
            fingerprint: self.fingerprint,
            prior: self.aside().before_truncation,
            copies_until: self.aside().copies_until,
            retired: match self.state {
                State::Retired { at } => Some(at),
                _ if self.finished => Some(now),
                _ => None,
            },
            path: self.shared_path(),
        }
    }
}

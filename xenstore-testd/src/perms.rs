//! Permission lists: first entry = owner and default access, later entries per domain.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perm {
    pub letter: char,
    pub domid: u32,
}

impl Perm {
    pub fn none(domid: u32) -> Perm {
        Perm { letter: 'n', domid }
    }

    pub fn parse(s: &str) -> Option<Perm> {
        let mut chars = s.chars();
        let letter = chars
            .next()
            .filter(|c| matches!(c, 'n' | 'r' | 'w' | 'b'))?;
        let domid = chars.as_str().parse().ok()?;
        Some(Perm { letter, domid })
    }
}

impl fmt::Display for Perm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.letter, self.domid)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermSet(pub Vec<Perm>);

impl PermSet {
    pub fn owner(&self) -> u32 {
        self.0.first().map_or(0, |p| p.domid)
    }

    pub fn set_owner(&mut self, dom: u32) {
        if let Some(first) = self.0.first_mut() {
            first.domid = dom;
        }
    }

    fn letter_for(&self, dom: u32) -> char {
        if dom == 0 || self.owner() == dom {
            return 'b';
        }
        self.0
            .iter()
            .skip(1)
            .find(|p| p.domid == dom)
            .or(self.0.first())
            .map_or('n', |p| p.letter)
    }

    pub fn can_read(&self, dom: u32) -> bool {
        matches!(self.letter_for(dom), 'r' | 'b')
    }

    pub fn can_write(&self, dom: u32) -> bool {
        matches!(self.letter_for(dom), 'w' | 'b')
    }
}

//! The node tree: values, permissions, children and a generation number per node. A
//! transaction works on a clone that records which nodes it touched and their generation
//! before it first touched them, which is all commit needs to detect conflicts.

use std::collections::{BTreeSet, HashMap};

use crate::perms::{Perm, PermSet};

/// Errors are the names xenstored puts in `XS_ERROR` replies.
pub type XsResult<T> = Result<T, &'static str>;

#[derive(Debug, Clone)]
pub struct Node {
    pub value: Vec<u8>,
    pub perms: PermSet,
    pub children: BTreeSet<String>,
    pub gen: u64,
}

#[derive(Debug, Clone)]
pub struct Store {
    pub nodes: HashMap<String, Node>,
    next_gen: u64,
    /// Set on transaction snapshots: path -> generation when first touched (None if absent).
    pub touched: Option<HashMap<String, Option<u64>>>,
}

pub fn parent_of(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn child_path(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl Default for Store {
    fn default() -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(
            "/".to_string(),
            Node {
                value: Vec::new(),
                perms: PermSet(vec![Perm::none(0)]),
                children: BTreeSet::new(),
                gen: 1,
            },
        );
        Store {
            nodes,
            next_gen: 2,
            touched: None,
        }
    }
}

impl Store {
    fn touch(&mut self, path: &str) {
        if let Some(t) = self.touched.as_mut() {
            if !t.contains_key(path) {
                let gen = self.nodes.get(path).map(|n| n.gen);
                t.insert(path.to_string(), gen);
            }
        }
    }

    fn bump(&mut self) -> u64 {
        self.next_gen += 1;
        self.next_gen
    }

    /// Makes `gen` larger than anything this store has handed out (used after commits).
    pub fn fresh_gen(&mut self) -> u64 {
        self.bump()
    }

    fn node(&mut self, path: &str) -> XsResult<&Node> {
        self.touch(path);
        self.nodes.get(path).ok_or("ENOENT")
    }

    /// Existing node readable by `dom`.
    fn readable(&mut self, path: &str, dom: u32) -> XsResult<&Node> {
        let node = self.node(path)?;
        if node.perms.can_read(dom) {
            Ok(node)
        } else {
            Err("EACCES")
        }
    }

    pub fn read(&mut self, path: &str, dom: u32) -> XsResult<Vec<u8>> {
        Ok(self.readable(path, dom)?.value.clone())
    }

    pub fn directory(&mut self, path: &str, dom: u32) -> XsResult<Vec<String>> {
        Ok(self.readable(path, dom)?.children.iter().cloned().collect())
    }

    pub fn generation(&mut self, path: &str, dom: u32) -> XsResult<u64> {
        Ok(self.readable(path, dom)?.gen)
    }

    pub fn get_perms(&mut self, path: &str, dom: u32) -> XsResult<PermSet> {
        Ok(self.readable(path, dom)?.perms.clone())
    }

    /// Creates `path` and missing ancestors; new nodes inherit their parent's permissions,
    /// owned by the creating domain when it is not dom0.
    fn create(&mut self, path: &str, dom: u32) -> XsResult<()> {
        let mut missing = vec![path.to_string()];
        let mut cur = path;
        let anchor = loop {
            let parent = parent_of(cur).ok_or("EINVAL")?;
            self.touch(parent);
            if self.nodes.contains_key(parent) {
                break parent.to_string();
            }
            missing.push(parent.to_string());
            cur = parent;
        };
        let anchor_node = self.nodes.get(&anchor).ok_or("ENOENT")?;
        if !anchor_node.perms.can_write(dom) {
            return Err("EACCES");
        }
        let mut perms = anchor_node.perms.clone();
        if dom != 0 {
            perms.set_owner(dom);
        }
        let mut parent = anchor;
        for p in missing.iter().rev() {
            self.touch(p);
            let gen = self.bump();
            self.nodes.insert(
                p.clone(),
                Node {
                    value: Vec::new(),
                    perms: perms.clone(),
                    children: BTreeSet::new(),
                    gen,
                },
            );
            let gen = self.bump();
            let pn = self.nodes.get_mut(&parent).ok_or("ENOENT")?;
            pn.children.insert(base_name(p).to_string());
            pn.gen = gen;
            parent = p.clone();
        }
        Ok(())
    }

    pub fn write(&mut self, path: &str, value: &[u8], dom: u32) -> XsResult<()> {
        self.touch(path);
        match self.nodes.get(path) {
            Some(n) if !n.perms.can_write(dom) => return Err("EACCES"),
            Some(_) => {}
            None => self.create(path, dom)?,
        }
        let gen = self.bump();
        let node = self.nodes.get_mut(path).ok_or("ENOENT")?;
        node.value = value.to_vec();
        node.gen = gen;
        Ok(())
    }

    pub fn mkdir(&mut self, path: &str, dom: u32) -> XsResult<()> {
        self.touch(path);
        if self.nodes.contains_key(path) {
            return Ok(());
        }
        self.create(path, dom)
    }

    /// Removes a subtree. Removing a missing node whose parent exists succeeds, as in xenstored.
    pub fn rm(&mut self, path: &str, dom: u32) -> XsResult<()> {
        let parent = parent_of(path).ok_or("EINVAL")?.to_string();
        self.touch(path);
        self.touch(&parent);
        match self.nodes.get(path) {
            None if self.nodes.contains_key(&parent) => return Ok(()),
            None => return Err("ENOENT"),
            Some(n) if !n.perms.can_write(dom) => return Err("EACCES"),
            Some(_) => {}
        }
        let mut stack = vec![path.to_string()];
        while let Some(p) = stack.pop() {
            self.touch(&p);
            if let Some(n) = self.nodes.remove(&p) {
                stack.extend(n.children.iter().map(|c| child_path(&p, c)));
            }
        }
        let gen = self.bump();
        if let Some(pn) = self.nodes.get_mut(&parent) {
            pn.children.remove(base_name(path));
            pn.gen = gen;
        }
        Ok(())
    }

    /// Only the owner (or dom0) may change permissions, and only dom0 may give a node away.
    pub fn set_perms(&mut self, path: &str, perms: PermSet, dom: u32) -> XsResult<()> {
        self.touch(path);
        let node = self.nodes.get(path).ok_or("ENOENT")?;
        if dom != 0 && (node.perms.owner() != dom || perms.owner() != dom) {
            return Err("EACCES");
        }
        let gen = self.bump();
        let node = self.nodes.get_mut(path).ok_or("ENOENT")?;
        node.perms = perms;
        node.gen = gen;
        Ok(())
    }
}

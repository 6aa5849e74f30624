//! A bounded YAML tree with a source position on every node.
//!
//! Pipeline definitions are YAML, and every finding must point at an exact
//! line and column, so we build our own small tree from `saphyr-parser`'s
//! spanned events instead of deserialising into position-less structs.
//! Anchors, aliases and `<<` merge keys are resolved here, once, so the CI
//! parsers above never see them. Expansion is bounded: an alias bomb ("billion
//! laughs") hits [`Limits::max_nodes`] and fails with a clear error instead of
//! exhausting memory.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// A 1-based line and column (in characters) plus the 0-based character
/// offset into the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub col: u32,
}

impl Pos {
    /// A position from a 1-based line and column.
    pub fn new(line: u32, col: u32) -> Self {
        Pos { line, col }
    }
}

/// How a scalar was written; block literals keep their line structure, which
/// lets a finding point inside a `run: |` script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Plain, unquoted.
    Plain,
    /// Single- or double-quoted.
    Quoted,
    /// `|` block literal.
    Literal,
    /// `>` folded block.
    Folded,
    /// Text copied verbatim from the source (a Jenkinsfile string), so
    /// offsets map back line by line from its start.
    Raw,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar, as written (no type resolution; `true` stays a string).
    Str(String, Style),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order; merge keys already applied.
    Map(Vec<(Node, Node)>),
}

/// A YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The content.
    pub value: Value,
    /// Where the node starts in the source.
    pub pos: Pos,
}

/// Size limits for one YAML file.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_bytes: usize,
    /// Most nodes in the tree after alias expansion.
    pub max_nodes: usize,
    /// Deepest nesting.
    pub max_depth: usize,
    /// Most documents in one stream.
    pub max_documents: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 8 * 1024 * 1024,
            max_nodes: 400_000,
            max_depth: 128,
            max_documents: 256,
        }
    }
}

/// Why a YAML file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// The scanner or parser rejected the text.
    #[error("invalid yaml at {line}:{col}: {message}")]
    Syntax {
        /// 1-based line.
        line: u32,
        /// 1-based column.
        col: u32,
        /// The parser's explanation.
        message: String,
    },
    /// A limit was hit.
    #[error("yaml limit exceeded at {line}:{col}: {what}")]
    Limit {
        /// 1-based line.
        line: u32,
        /// 1-based column.
        col: u32,
        /// Which limit, with its value.
        what: String,
    },
}

fn pos_of(span: &Span) -> Pos {
    let line = u32::try_from(span.start.line()).unwrap_or(u32::MAX);
    let col = u32::try_from(span.start.col().saturating_add(1)).unwrap_or(u32::MAX);
    Pos { line, col }
}

enum Frame {
    Seq {
        anchor: usize,
        pos: Pos,
        items: Vec<Node>,
    },
    Map {
        anchor: usize,
        pos: Pos,
        entries: Vec<(Node, Node)>,
        key: Option<Node>,
    },
}

fn count_nodes(node: &Node) -> usize {
    match &node.value {
        Value::Str(..) => 1,
        Value::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
    }
}

/// Applies `<<` merge keys: explicit keys win, merged ones follow in order.
fn apply_merges(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    if !entries.iter().any(|(k, _)| k.as_str() == Some("<<")) {
        return entries;
    }
    let mut own = Vec::new();
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for (k, v) in entries {
        if k.as_str() == Some("<<") {
            let sources: Vec<Node> = match v.value {
                Value::Seq(items) => items,
                other => vec![Node {
                    value: other,
                    pos: v.pos,
                }],
            };
            for src in sources {
                if let Value::Map(src_entries) = src.value {
                    for (sk, sv) in src_entries {
                        if !merged.iter().any(|(mk, _)| mk.as_str() == sk.as_str()) {
                            merged.push((sk, sv));
                        }
                    }
                }
            }
        } else {
            own.push((k, v));
        }
    }
    for (mk, mv) in merged {
        if !own.iter().any(|(ok, _)| ok.as_str() == mk.as_str()) {
            own.push((mk, mv));
        }
    }
    own
}

struct Builder {
    limits: Limits,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
    docs: Vec<Node>,
}

impl Builder {
    fn limit(&self, pos: Pos, what: String) -> YamlError {
        YamlError::Limit {
            line: pos.line,
            col: pos.col,
            what,
        }
    }

    fn charge(&mut self, n: usize, pos: Pos) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > self.limits.max_nodes {
            return Err(self.limit(
                pos,
                format!(
                    "more than {} nodes after alias expansion (alias bomb?)",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
    }

    fn push_node(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            let size = count_nodes(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                if self.docs.len() >= self.limits.max_documents {
                    return Err(self.limit(
                        node.pos,
                        format!("more than {} documents", self.limits.max_documents),
                    ));
                }
                self.docs.push(node);
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => entries.push((k, node)),
            },
        }
        Ok(())
    }

    fn event(&mut self, ev: Event<'_>, span: &Span) -> Result<(), YamlError> {
        let pos = pos_of(span);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                self.charge(1, pos)?;
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                    _ => Style::Quoted,
                };
                let node = Node {
                    value: Value::Str(text.into_owned(), style),
                    pos,
                };
                self.push_node(node, anchor)?;
            }
            Event::Alias(id) => {
                let Some((node, size)) = self.anchors.get(&id).map(|(n, s)| (n.clone(), *s)) else {
                    return Err(YamlError::Syntax {
                        line: pos.line,
                        col: pos.col,
                        message: "alias to an unknown anchor".into(),
                    });
                };
                self.charge(size, pos)?;
                self.push_node(node, 0)?;
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                self.charge(1, pos)?;
                if self.stack.len() >= self.limits.max_depth {
                    return Err(self.limit(pos, format!("nesting deeper than {}", self.limits.max_depth)));
                }
                if matches!(ev, Event::SequenceStart(..)) {
                    self.stack.push(Frame::Seq {
                        anchor,
                        pos,
                        items: Vec::new(),
                    });
                } else {
                    self.stack.push(Frame::Map {
                        anchor,
                        pos,
                        entries: Vec::new(),
                        key: None,
                    });
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { anchor, pos, items }) => (
                        Node {
                            value: Value::Seq(items),
                            pos,
                        },
                        anchor,
                    ),
                    Some(Frame::Map {
                        anchor, pos, entries, ..
                    }) => (
                        Node {
                            value: Value::Map(apply_merges(entries)),
                            pos,
                        },
                        anchor,
                    ),
                    None => return Ok(()),
                };
                self.push_node(node, anchor)?;
            }
            Event::DocumentStart(_) => self.anchors.clear(),
            _ => {}
        }
        Ok(())
    }
}

/// Parses every document in `src` into position-carrying trees.
///
/// # Errors
/// [`YamlError::Syntax`] for text the YAML parser rejects, and
/// [`YamlError::Limit`] when the input, the expanded tree or the nesting is
/// larger than `limits` allows.
pub fn parse(src: &str, limits: Limits) -> Result<Vec<Node>, YamlError> {
    if src.len() > limits.max_bytes {
        return Err(YamlError::Limit {
            line: 1,
            col: 1,
            what: format!(
                "file is {} bytes, larger than the {} byte limit",
                src.len(),
                limits.max_bytes
            ),
        });
    }
    let mut builder = Builder {
        limits,
        stack: Vec::new(),
        anchors: HashMap::new(),
        nodes: 0,
        docs: Vec::new(),
    };
    for item in Parser::new_from_str(src) {
        match item {
            Ok((ev, span)) => builder.event(ev, &span)?,
            Err(e) => {
                let m = e.marker();
                return Err(YamlError::Syntax {
                    line: u32::try_from(m.line()).unwrap_or(u32::MAX),
                    col: u32::try_from(m.col().saturating_add(1)).unwrap_or(u32::MAX),
                    message: e.info().to_string(),
                });
            }
        }
    }
    Ok(builder.docs)
}

impl Node {
    /// The scalar text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s, _) => Some(s),
            _ => None,
        }
    }

    /// The sequence items, if this is a sequence.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The mapping entries, if this is a mapping.
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The key node (for its position) of `key` in a mapping.
    pub fn key_node(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, _)| k)
    }

    /// The scalar under `key`.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key)?.as_str()
    }

    /// A scalar alone or each scalar of a sequence, with positions.
    pub fn str_items(&self) -> Vec<(&str, Pos)> {
        match &self.value {
            Value::Str(s, _) => vec![(s.as_str(), self.pos)],
            Value::Seq(items) => items
                .iter()
                .filter_map(|n| n.as_str().map(|s| (s, n.pos)))
                .collect(),
            Value::Map(_) => Vec::new(),
        }
    }

    /// Whether the scalar reads as YAML true (`true`, `True`, `yes`, `on`).
    pub fn is_true(&self) -> bool {
        matches!(
            self.as_str().map(str::to_ascii_lowercase).as_deref(),
            Some("true" | "yes" | "on")
        )
    }

    /// Whether the scalar reads as YAML false.
    pub fn is_false(&self) -> bool {
        matches!(
            self.as_str().map(str::to_ascii_lowercase).as_deref(),
            Some("false" | "no" | "off")
        )
    }

    /// The scalar style, if a scalar.
    pub fn style(&self) -> Option<Style> {
        match &self.value {
            Value::Str(_, st) => Some(*st),
            _ => None,
        }
    }

    /// All scalar text under this node, joined by newlines (keys excluded).
    pub fn flat_text(&self) -> String {
        let mut out = String::new();
        self.collect_text(&mut out, 0);
        out
    }

    fn collect_text(&self, out: &mut String, depth: usize) {
        if depth > 64 {
            return;
        }
        match &self.value {
            Value::Str(s, _) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Seq(items) => items.iter().for_each(|n| n.collect_text(out, depth + 1)),
            Value::Map(entries) => entries.iter().for_each(|(_, v)| v.collect_text(out, depth + 1)),
        }
    }
}

/// Maps a byte offset inside a scalar's text back to a source position.
///
/// Exact for plain, quoted, raw and `|` literal scalars; folded scalars point
/// at their start. `lines` is the source split into lines.
pub fn pos_in_text(value: &str, style: Style, start: Pos, byte_offset: usize, lines: &[&str]) -> Pos {
    let before = value.get(..byte_offset).unwrap_or(value);
    match style {
        Style::Plain => Pos::new(start.line, start.col + count_u32(before)),
        Style::Quoted => Pos::new(start.line, start.col + 1 + count_u32(before)),
        Style::Folded => start,
        Style::Raw => {
            let nl = u32::try_from(before.matches('\n').count()).unwrap_or(u32::MAX);
            match before.rsplit_once('\n') {
                None => Pos::new(start.line, start.col + count_u32(before)),
                Some((_, tail)) => Pos::new(start.line.saturating_add(nl), 1 + count_u32(tail)),
            }
        }
        Style::Literal => {
            let nl = before.matches('\n').count();
            let line = start.line as usize + nl;
            let indent = lines
                .get(line.saturating_sub(1))
                .map(|l| l.chars().take_while(|c| *c == ' ').count())
                .unwrap_or(0);
            let in_line = before.rsplit('\n').next().unwrap_or("");
            Pos::new(
                u32::try_from(line).unwrap_or(u32::MAX),
                u32::try_from(indent + 1).unwrap_or(u32::MAX) + count_u32(in_line),
            )
        }
    }
}

fn count_u32(s: &str) -> u32 {
    u32::try_from(s.chars().count()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_node_has_its_line_and_column() {
        let docs = parse("a:\n  b: [1, 2]\n  c: x\n", Limits::default()).unwrap();
        let b = docs[0].get("a").unwrap().get("b").unwrap();
        assert_eq!(b.pos, Pos::new(2, 6));
        assert_eq!(b.as_seq().unwrap()[1].pos, Pos::new(2, 10));
        assert_eq!(docs[0].get("a").unwrap().get("c").unwrap().pos, Pos::new(3, 6));
    }

    #[test]
    fn anchors_aliases_and_merge_keys_resolve_with_explicit_keys_winning() {
        let src = ".base: &base\n  x: 1\n  y: 2\njob:\n  <<: *base\n  y: 3\n";
        let docs = parse(src, Limits::default()).unwrap();
        let job = docs[0].get("job").unwrap();
        assert_eq!(job.get_str("x"), Some("1"));
        assert_eq!(job.get_str("y"), Some("3"));
        assert!(job.get("<<").is_none());
    }

    #[test]
    fn alias_bomb_hits_the_node_budget_instead_of_exhausting_memory() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&src, Limits::default()).unwrap_err();
        assert!(err.to_string().contains("alias bomb"), "{err}");
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = parse("a: [1, 2\nb: c\n", Limits::default()).unwrap_err();
        assert!(matches!(err, YamlError::Syntax { .. }), "{err}");
    }

    #[test]
    fn literal_block_offsets_map_to_the_script_line() {
        let src = "run: |\n  echo a\n  pytest || true\n";
        let docs = parse(src, Limits::default()).unwrap();
        let run = docs[0].get("run").unwrap();
        let text = run.as_str().unwrap();
        let off = text.find("||").unwrap();
        let lines: Vec<&str> = src.lines().collect();
        let pos = pos_in_text(text, run.style().unwrap(), run.pos, off, &lines);
        assert_eq!(pos, Pos::new(3, 10));
    }
}

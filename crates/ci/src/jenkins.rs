//! Jenkins declarative pipelines: a tolerant block parser for the subset the
//! rules need.
//!
//! A Jenkinsfile is Groovy, and we do not evaluate Groovy. The declarative
//! form is a tree of `name(args) { ... }` blocks, which a small tokenizer and
//! block builder read exactly, keeping the position of every statement.
//! Stages run in order (parallel branches side by side); `input` with a
//! `submitter` is the approval; `catchError`/`warnError` let a failure pass;
//! `post { always { } }` runs regardless. A scripted pipeline (no top-level
//! `pipeline { }`) is reported as not analysable, never silently passed.

use crate::model::{Approval, Edge, Job, Marker, Pipeline, Step, System, Text, UserInput};
use crate::yaml::{Pos, Style};

/// Most tokens accepted from one Jenkinsfile.
const MAX_TOKENS: usize = 1_000_000;
/// Deepest block nesting accepted.
const MAX_DEPTH: usize = 64;
/// Largest Jenkinsfile accepted, in bytes.
const MAX_BYTES: usize = 4 * 1024 * 1024;

/// Why a Jenkinsfile was not turned into a pipeline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JenkinsError {
    /// Not a declarative pipeline (scripted, or no `pipeline { }`).
    #[error("not a declarative pipeline at {line}:{col}: {reason}")]
    NotDeclarative {
        /// 1-based line of the first statement.
        line: u32,
        /// 1-based column of the first statement.
        col: u32,
        /// Why.
        reason: String,
    },
    /// The text could not be tokenized or exceeds a limit.
    #[error("invalid Jenkinsfile at {line}:{col}: {message}")]
    Syntax {
        /// 1-based line.
        line: u32,
        /// 1-based column.
        col: u32,
        /// What went wrong.
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Open,
    Close,
    LParen,
    RParen,
    Newline,
    Semi,
    Other(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: Pos,
    start: usize,
    end: usize,
}

fn tokenize(src: &str) -> Result<Vec<Token>, JenkinsError> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let (mut line, mut col) = (1u32, 1u32);
    let err = |line, col, m: &str| JenkinsError::Syntax {
        line,
        col,
        message: m.to_string(),
    };
    let byte = |k: usize| chars.get(k).map_or(src.len(), |c| c.0);
    while let Some(&(b, c)) = chars.get(i) {
        if out.len() > MAX_TOKENS {
            return Err(err(line, col, "too many tokens"));
        }
        let pos = Pos::new(line, col);
        let advance = |k: usize, line: &mut u32, col: &mut u32| {
            for j in i..k {
                if chars.get(j).map(|x| x.1) == Some('\n') {
                    *line += 1;
                    *col = 1;
                } else {
                    *col += 1;
                }
            }
        };
        let next = chars.get(i + 1).map(|x| x.1);
        let (tok, end) = if c == '/' && next == Some('/') {
            let mut k = i;
            while chars.get(k).is_some_and(|x| x.1 != '\n') {
                k += 1;
            }
            (None, k)
        } else if c == '/' && next == Some('*') {
            let mut k = i + 2;
            while k < chars.len()
                && !(chars.get(k).map(|x| x.1) == Some('*') && chars.get(k + 1).map(|x| x.1) == Some('/'))
            {
                k += 1;
            }
            if k >= chars.len() {
                return Err(err(line, col, "unterminated comment"));
            }
            (None, k + 2)
        } else if c == '\'' || c == '"' {
            let triple = chars.get(i + 1).map(|x| x.1) == Some(c) && chars.get(i + 2).map(|x| x.1) == Some(c);
            let q = if triple { 3 } else { 1 };
            let mut k = i + q;
            loop {
                let Some(&(_, ch)) = chars.get(k) else {
                    return Err(err(line, col, "unterminated string"));
                };
                if ch == '\\' {
                    k += 2;
                    continue;
                }
                if ch == '\n' && !triple {
                    return Err(err(line, col, "unterminated string"));
                }
                if ch == c
                    && (!triple
                        || (chars.get(k + 1).map(|x| x.1) == Some(c)
                            && chars.get(k + 2).map(|x| x.1) == Some(c)))
                {
                    break;
                }
                k += 1;
            }
            let body = src.get(byte(i + q)..byte(k)).unwrap_or("").to_string();
            (Some(Tok::Str(body)), k + q)
        } else if c.is_alphabetic() || c == '_' {
            let mut k = i;
            while chars
                .get(k)
                .is_some_and(|x| x.1.is_alphanumeric() || x.1 == '_' || x.1 == '.')
            {
                k += 1;
            }
            (Some(Tok::Ident(src.get(b..byte(k)).unwrap_or("").to_string())), k)
        } else {
            let t = match c {
                '{' => Some(Tok::Open),
                '}' => Some(Tok::Close),
                '(' => Some(Tok::LParen),
                ')' => Some(Tok::RParen),
                '\n' => Some(Tok::Newline),
                ';' => Some(Tok::Semi),
                c if c.is_whitespace() => None,
                c => Some(Tok::Other(c)),
            };
            (t, i + 1)
        };
        if let Some(tok) = tok {
            out.push(Token {
                tok,
                pos,
                start: b,
                end: byte(end),
            });
        }
        advance(end, &mut line, &mut col);
        i = end;
    }
    Ok(out)
}

/// A statement: `name args` or `name(args) { body }`.
#[derive(Debug, Clone)]
struct Block {
    name: String,
    pos: Pos,
    args: Vec<Token>,
    body: Option<Vec<Block>>,
    start: usize,
    end: usize,
}

impl Block {
    fn child(&self, name: &str) -> Option<&Block> {
        self.body.as_ref()?.iter().find(|b| b.name == name)
    }
    fn children(&self) -> &[Block] {
        self.body.as_deref().unwrap_or_default()
    }
    fn first_str(&self) -> Option<&str> {
        self.args.iter().find_map(|t| match &t.tok {
            Tok::Str(s) => Some(s.as_str()),
            _ => None,
        })
    }
    /// The string value of a named argument `key: 'value'`.
    fn named_str(&self, key: &str) -> Option<&str> {
        let mut it = self.args.iter().peekable();
        while let Some(t) = it.next() {
            if t.tok == Tok::Ident(key.to_string()) && it.peek().is_some_and(|n| n.tok == Tok::Other(':')) {
                it.next();
                if let Some(Token { tok: Tok::Str(s), .. }) = it.next() {
                    return Some(s);
                }
            }
        }
        None
    }
    fn named_is_true(&self, key: &str) -> bool {
        let mut it = self.args.iter().peekable();
        while let Some(t) = it.next() {
            if t.tok == Tok::Ident(key.to_string()) && it.peek().is_some_and(|n| n.tok == Tok::Other(':')) {
                it.next();
                return it.next().is_some_and(|n| n.tok == Tok::Ident("true".into()));
            }
        }
        false
    }
}

fn parse_blocks(toks: &[Token], i: &mut usize, depth: usize) -> Result<Vec<Block>, JenkinsError> {
    let mut out = Vec::new();
    while let Some(t) = toks.get(*i) {
        match &t.tok {
            Tok::Close => return Ok(out),
            Tok::Newline | Tok::Semi => {
                *i += 1;
            }
            _ => {
                let name = match &t.tok {
                    Tok::Ident(n) => n.clone(),
                    _ => String::new(),
                };
                let pos = t.pos;
                let start = t.start;
                *i += 1;
                let mut args = Vec::new();
                let mut paren = 0usize;
                let mut body = None;
                let mut end = t.end;
                while let Some(a) = toks.get(*i) {
                    match a.tok {
                        Tok::LParen => paren += 1,
                        Tok::RParen => paren = paren.saturating_sub(1),
                        Tok::Newline | Tok::Semi if paren == 0 => break,
                        Tok::Close if paren == 0 => break,
                        Tok::Open => {
                            if depth >= MAX_DEPTH {
                                return Err(JenkinsError::Syntax {
                                    line: a.pos.line,
                                    col: a.pos.col,
                                    message: format!("blocks nested deeper than {MAX_DEPTH}"),
                                });
                            }
                            *i += 1;
                            let inner = parse_blocks(toks, i, depth + 1)?;
                            match toks.get(*i) {
                                Some(c) if c.tok == Tok::Close => end = c.end,
                                _ => {
                                    return Err(JenkinsError::Syntax {
                                        line: a.pos.line,
                                        col: a.pos.col,
                                        message: "unclosed `{`".into(),
                                    })
                                }
                            }
                            *i += 1;
                            if paren == 0 {
                                body = Some(inner);
                                break;
                            }
                            continue;
                        }
                        _ => {}
                    }
                    end = a.end;
                    args.push(a.clone());
                    *i += 1;
                }
                out.push(Block {
                    name,
                    pos,
                    args,
                    body,
                    start,
                    end,
                });
            }
        }
    }
    Ok(out)
}

const FAILURE_POST: &[&str] = &[
    "always",
    "failure",
    "unsuccessful",
    "unstable",
    "cleanup",
    "aborted",
    "changed",
];

struct Builder<'a> {
    src: &'a str,
    jobs: Vec<Job>,
}

impl Builder<'_> {
    fn raw(&self, b: &Block) -> Text {
        Text {
            value: self.src.get(b.start..b.end).unwrap_or("").to_string(),
            pos: b.pos,
            style: Style::Raw,
        }
    }

    fn steps(
        &self,
        blocks: &[Block],
        job: &mut Job,
        allow: Option<&Marker>,
        on_fail: Option<&Marker>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        for b in blocks {
            match b.name.as_str() {
                "catchError" | "warnError" => {
                    let m = Marker::new(format!("{}(...)", b.name), b.pos);
                    self.steps(b.children(), job, Some(&m), on_fail, depth + 1);
                }
                "input" => {
                    job.approval = Some(Approval {
                        what: "input".into(),
                        pos: b.pos,
                        submitter: b.named_str("submitter").map(str::to_string),
                        settings_only: false,
                    });
                }
                _ if b.body.is_some() => {
                    self.steps(b.children(), job, allow, on_fail, depth + 1);
                }
                "" => {}
                _ => {
                    let mut run = self.raw(b);
                    if b.named_is_true("returnStatus") {
                        run.value.push_str(" // returnStatus: true");
                    }
                    job.steps.push(Step {
                        pos: b.pos,
                        run: Some(run),
                        allow_failure: allow.cloned(),
                        runs_on_failure: on_fail.cloned(),
                        ..Step::default()
                    });
                }
            }
        }
    }

    /// Adds a stage (and its nested stages); returns the ids that finish it.
    fn stage(&mut self, b: &Block, before: &[String], depth: usize) -> Vec<String> {
        if depth > MAX_DEPTH {
            return before.to_vec();
        }
        if let Some(par) = b.child("parallel") {
            let mut ends = Vec::new();
            for s in par.children().iter().filter(|s| s.name == "stage") {
                ends.extend(self.stage(s, before, depth + 1));
            }
            return ends;
        }
        if let Some(inner) = b.child("stages") {
            let mut cur = before.to_vec();
            for s in inner.children().iter().filter(|s| s.name == "stage") {
                cur = self.stage(s, &cur, depth + 1);
            }
            return cur;
        }
        let name = b.first_str().unwrap_or("stage").to_string();
        let mut id = name.clone();
        let mut n = 2;
        while self.jobs.iter().any(|j| j.id == id) {
            id = format!("{name} #{n}");
            n += 1;
        }
        let mut job = Job {
            id: id.clone(),
            pos: b.pos,
            needs: before.iter().map(|to| Edge::after(to, b.pos)).collect(),
            ..Job::default()
        };
        if let Some(w) = b.child("when") {
            job.conditions.push(self.raw(w));
        }
        if let Some(inp) = b.child("input") {
            let submitter = inp
                .child("submitter")
                .and_then(Block::first_str)
                .or_else(|| inp.named_str("submitter"))
                .map(str::to_string);
            job.approval = Some(Approval {
                what: "input".into(),
                pos: inp.pos,
                submitter,
                settings_only: false,
            });
        }
        if let Some(steps) = b.child("steps") {
            self.steps(steps.children(), &mut job, None, None, 0);
        }
        if let Some(post) = b.child("post") {
            for cond in post.children() {
                if FAILURE_POST.contains(&cond.name.as_str()) {
                    let m = Marker::new(format!("post {{ {} }}", cond.name), cond.pos);
                    self.steps(cond.children(), &mut job, None, Some(&m), 0);
                }
            }
        }
        self.jobs.push(job);
        vec![id]
    }
}

/// A scripted pipeline (`node { stage('x') { … } }`): its stages in the
/// order they are written, each a job after the previous one; a stage inside
/// `if`/`else`/`when` carries that condition; steps outside any stage form
/// one job at their place. Groovy logic (loops, functions, computed values)
/// is not evaluated.
fn scripted(file: &str, src: &str, top: &[Block]) -> Pipeline {
    let mut builder = Builder {
        src,
        jobs: Vec::new(),
    };
    let mut cur: Vec<String> = Vec::new();
    scripted_blocks(&mut builder, top, &mut cur, &[], 0);
    let mut pipeline = Pipeline::new(file, System::Jenkins);
    pipeline.jobs = builder.jobs;
    pipeline
}

fn scripted_blocks(
    builder: &mut Builder<'_>,
    blocks: &[Block],
    cur: &mut Vec<String>,
    conds: &[Text],
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let mut loose: Vec<Block> = Vec::new();
    let flush = |builder: &mut Builder<'_>, loose: &mut Vec<Block>, cur: &mut Vec<String>| {
        if loose.is_empty() {
            return;
        }
        let pos = loose.first().map_or(Pos::new(1, 1), |b| b.pos);
        let id = format!("(outside stages) #{}", builder.jobs.len() + 1);
        let mut job = Job {
            id: id.clone(),
            pos,
            needs: cur
                .iter()
                .map(|to| Edge {
                    to: to.clone(),
                    optional: false,
                    on_failure: None,
                    pos,
                })
                .collect(),
            conditions: conds.to_vec(),
            ..Job::default()
        };
        builder.steps(loose, &mut job, None, None, 0);
        loose.clear();
        if !job.steps.is_empty() || job.approval.is_some() {
            builder.jobs.push(job);
            *cur = vec![id];
        }
    };
    for b in blocks {
        match b.name.as_str() {
            "stage" if b.body.is_some() => {
                flush(builder, &mut loose, cur);
                let name = b.first_str().unwrap_or("stage").to_string();
                let mut id = name.clone();
                let mut n = 2;
                while builder.jobs.iter().any(|j| j.id == id) {
                    id = format!("{name} #{n}");
                    n += 1;
                }
                let mut job = Job {
                    id: id.clone(),
                    pos: b.pos,
                    needs: cur.iter().map(|to| Edge::after(to, b.pos)).collect(),
                    conditions: conds.to_vec(),
                    ..Job::default()
                };
                builder.steps(b.children(), &mut job, None, None, 0);
                builder.jobs.push(job);
                *cur = vec![id];
            }
            "if" | "else" | "when" if b.body.is_some() => {
                flush(builder, &mut loose, cur);
                let mut inner = conds.to_vec();
                let raw = builder.raw(b);
                let head = raw.value.split('{').next().unwrap_or("").trim().to_string();
                inner.push(Text::new(head, b.pos));
                scripted_blocks(builder, b.children(), cur, &inner, depth + 1);
            }
            "catch" if b.body.is_some() => {
                // Runs only when the `try` failed: after the stages before it.
                flush(builder, &mut loose, cur);
                let mut job = Job {
                    id: format!("catch #{}", builder.jobs.len() + 1),
                    pos: b.pos,
                    needs: cur.iter().map(|to| Edge::after(to, b.pos)).collect(),
                    runs_on_failure: Some(Marker::new("catch { }", b.pos)),
                    ..Job::default()
                };
                builder.steps(b.children(), &mut job, None, None, 0);
                if !job.steps.is_empty() {
                    builder.jobs.push(job);
                }
            }
            "def" | "import" | "@Library" | "properties" => {}
            _ if b.body.is_some() && !matches!(b.name.as_str(), "catchError" | "warnError") => {
                // node, timeout, withCredentials, dir, try, script, …
                flush(builder, &mut loose, cur);
                scripted_blocks(builder, b.children(), cur, conds, depth + 1);
            }
            _ => loose.push(b.clone()),
        }
    }
    flush(builder, &mut loose, cur);
}

fn parse_parameters(params: &Block, pipeline: &mut Pipeline) {
    for p in params.children() {
        let free = matches!(p.name.as_str(), "string" | "text" | "password");
        if let Some(name) = p.named_str("name") {
            pipeline.inputs.push(UserInput {
                name: name.to_string(),
                free_text: free,
                pos: p.pos,
            });
        }
    }
}

/// Parses a declarative Jenkinsfile into a pipeline.
///
/// # Errors
/// [`JenkinsError::NotDeclarative`] for scripted pipelines and
/// [`JenkinsError::Syntax`] for text the tokenizer cannot read or that
/// exceeds a limit.
pub fn parse(file: &str, src: &str) -> Result<Pipeline, JenkinsError> {
    if src.len() > MAX_BYTES {
        return Err(JenkinsError::Syntax {
            line: 1,
            col: 1,
            message: format!("file larger than {MAX_BYTES} bytes"),
        });
    }
    let toks = tokenize(src)?;
    let mut i = 0;
    let mut top = parse_blocks(&toks, &mut i, 0)?;
    while let Some(t) = toks.get(i) {
        // A stray `}` at top level: skip it and keep reading.
        i += 1;
        let _ = t;
        top.extend(parse_blocks(&toks, &mut i, 0)?);
    }
    let Some(pipe) = top.iter().find(|b| b.name == "pipeline" && b.body.is_some()) else {
        if top.iter().any(|b| b.name == "node" && b.body.is_some()) {
            return Ok(scripted(file, src, &top));
        }
        let why = "no top-level `pipeline { }` block";
        let at = top.first().map_or(Pos::new(1, 1), |b| b.pos);
        return Err(JenkinsError::NotDeclarative {
            line: at.line,
            col: at.col,
            reason: why.into(),
        });
    };
    let mut pipeline = Pipeline::new(file, System::Jenkins);
    if let Some(params) = pipe.child("parameters") {
        parse_parameters(params, &mut pipeline);
    }
    if let Some(triggers) = pipe.child("triggers") {
        for t in triggers.children() {
            pipeline.triggers.push(Text::new(t.name.clone(), t.pos));
        }
    }
    let mut builder = Builder {
        src,
        jobs: Vec::new(),
    };
    let mut cur: Vec<String> = Vec::new();
    if let Some(stages) = pipe.child("stages") {
        for s in stages.children().iter().filter(|s| s.name == "stage") {
            cur = builder.stage(s, &cur, 0);
        }
    } else {
        return Err(JenkinsError::NotDeclarative {
            line: pipe.pos.line,
            col: pipe.pos.col,
            reason: "`pipeline { }` has no `stages { }`".into(),
        });
    }
    if let Some(post) = pipe.child("post") {
        let mut job = Job {
            id: "post".into(),
            pos: post.pos,
            needs: cur.iter().map(|to| Edge::after(to, post.pos)).collect(),
            ..Job::default()
        };
        for cond in post.children() {
            let m = FAILURE_POST
                .contains(&cond.name.as_str())
                .then(|| Marker::new(format!("post {{ {} }}", cond.name), cond.pos));
            builder.steps(cond.children(), &mut job, None, m.as_ref(), 0);
        }
        if let Some(m) = job.steps.iter().find_map(|s| s.runs_on_failure.clone()) {
            job.runs_on_failure = Some(m);
        }
        builder.jobs.push(job);
    }
    pipeline.jobs = builder.jobs;
    Ok(pipeline)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_run_in_order_with_parallel_branches_side_by_side() {
        let src = "pipeline {\n  agent any\n  stages {\n    stage('Eval') {\n      parallel {\n        stage('a') { steps { sh 'pytest evals' } }\n        stage('b') { steps { sh \"garak --model x\" } }\n      }\n    }\n    stage('Deploy') {\n      input { message 'ok?'; submitter 'ml-leads' }\n      steps { sh 'helm upgrade model-server ./chart' }\n    }\n  }\n}\n";
        let p = parse("Jenkinsfile", src).unwrap();
        let ids: Vec<&str> = p.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "Deploy"]);
        let deploy = &p.jobs[2];
        assert_eq!(deploy.needs.len(), 2);
        assert_eq!(
            deploy.approval.as_ref().unwrap().submitter.as_deref(),
            Some("ml-leads")
        );
        assert_eq!(deploy.steps[0].pos, Pos::new(12, 15));
        assert_eq!(
            p.jobs[0].steps[0].run.as_ref().unwrap().value,
            "sh 'pytest evals'"
        );
    }

    #[test]
    fn scripted_pipelines_are_read_as_their_stages_in_order() {
        let src = "node {\n  stage('Eval') { sh 'pytest evals' }\n  if (env.BRANCH_NAME == 'main') {\n    stage('Deploy') {\n      input message: 'Ship?', submitter: 'ml-leads'\n      sh 'helm upgrade model-server ./chart'\n    }\n  }\n}\n";
        let p = parse("Jenkinsfile", src).unwrap();
        assert_eq!(
            p.jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["Eval", "Deploy"]
        );
        let deploy = &p.jobs[1];
        assert_eq!(deploy.needs[0].to, "Eval");
        assert_eq!(deploy.conditions[0].value, "if (env.BRANCH_NAME == 'main')");
        assert_eq!(
            deploy.approval.as_ref().unwrap().submitter.as_deref(),
            Some("ml-leads")
        );
        assert_eq!(
            deploy.steps[0].run.as_ref().unwrap().value,
            "sh 'helm upgrade model-server ./chart'"
        );
        assert!(matches!(
            parse("Jenkinsfile", "echo 'hi'\n").unwrap_err(),
            JenkinsError::NotDeclarative { .. }
        ));
    }

    #[test]
    fn catch_error_marks_inner_steps_as_allowed_to_fail() {
        let src = "pipeline { stages { stage('s') { steps {\n catchError(buildResult: 'SUCCESS') {\n  sh 'modelscan -p m.pkl'\n }\n} } } }";
        let p = parse("J", src).unwrap();
        assert!(p.jobs[0].steps[0].allow_failure.is_some());
    }

    #[test]
    fn unterminated_strings_are_syntax_errors_with_position() {
        let err = parse("J", "pipeline {\n  stages { stage('x\n").unwrap_err();
        assert!(matches!(err, JenkinsError::Syntax { line: 2, .. }), "{err}");
    }
}

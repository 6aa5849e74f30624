//! The reviewer's web UI: sign in with a personal token, see the approval
//! inbox, open a request (the same report `portcullis report` writes),
//! approve or reject it with a comment, and browse models, their stage
//! history and the audit log.
//!
//! Pages are rendered on the server with the report crate's templates and
//! plots and need no JavaScript. Every page carries the report's
//! Content-Security-Policy (no script at all, forms only to this origin).
//! A session is a random cookie (`HttpOnly`, `SameSite=Strict`, `Secure`
//! over TLS, path `/ui`) naming an in-memory record of who signed in with
//! which token; the token is checked again on every request, so revoking
//! it ends the session. Every form that changes state carries the
//! session's CSRF token, and approving needs a sign-in younger than
//! [`FRESH_SIGN_IN`]. Approving here is the registry's own service-signed
//! approval ([`Registry::approve`]), the same call as the API's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use maud::{html, Markup};
use portcullis_report::html as page;
use rand_core::{OsRng, RngCore};
use serde::Deserialize;
use serde_json::Value;

use crate::auth::{hash_secret, Caller, Role};
use crate::error::ApiError;
use crate::registry::{Registry, RequestView};

/// How long a session lasts.
pub const SESSION_MAX_AGE: Duration = Duration::from_secs(8 * 3600);
/// How recent a sign-in must be to approve or reject.
pub const FRESH_SIGN_IN: Duration = Duration::from_secs(15 * 60);
/// The session cookie's name.
const COOKIE: &str = "portcullis_session";
/// At most this many live sessions; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Clone)]
struct Session {
    token_hash: String,
    identity: String,
    role: Role,
    signed_in: SystemTime,
    csrf: String,
}

struct Ui {
    registry: Arc<Registry>,
    sessions: Mutex<HashMap<String, Session>>,
    secure: bool,
}

type St = Arc<Ui>;

/// The UI's routes under `/ui`; `secure` marks the cookie `Secure` (the
/// server speaks TLS).
pub fn router(registry: Arc<Registry>, secure: bool) -> Router {
    let ui = Arc::new(Ui {
        registry,
        sessions: Mutex::new(HashMap::new()),
        secure,
    });
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/inbox") }))
        .route("/ui", get(|| async { Redirect::to("/ui/inbox") }))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/inbox", get(inbox))
        .route("/ui/requests/{id}", get(request_page))
        .route("/ui/requests/{id}/decide", post(decide))
        .route("/ui/models", get(models))
        .route("/ui/log", get(log_page))
        .with_state(ui)
}

fn random_token() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// An HTML error page with the status of the registry's error.
fn error_page(e: &ApiError, session: Option<&Session>) -> Response {
    let (status, _) = e.status();
    let message = e.public_message();
    let body = html! {
        h1 { "Cannot do that" }
        p class="flash bad" role="alert" { (message) }
        p { a href="/ui/inbox" { "Back to the inbox" } }
    };
    (status, layout(session, "error", &body)).into_response()
}

fn html_response(m: Markup) -> Response {
    let mut r = m.into_string().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert("x-frame-options", HeaderValue::from_static("DENY"));
    r
}

fn layout(session: Option<&Session>, title: &str, body: &Markup) -> Response {
    let m = page::page(
        &format!("{title} · portcullis"),
        html! {
            header class="top" {
                span class="brand" { "portcullis" }
                @if let Some(s) = session {
                    nav aria-label="main" {
                        a href="/ui/inbox" { "Inbox" }
                        a href="/ui/models" { "Models" }
                        a href="/ui/log" { "Audit log" }
                    }
                    span class="muted" { "signed in as " strong class="who" { (s.identity) } " (" (s.role.to_string()) ")" }
                    form method="post" action="/ui/logout" class="inline" {
                        input type="hidden" name="csrf" value=(s.csrf);
                        button type="submit" { "Sign out" }
                    }
                }
            }
            main { (body) }
        },
    );
    html_response(m)
}

impl Ui {
    fn now(&self) -> SystemTime {
        self.registry.clock_now()
    }

    fn caller(s: &Session) -> Caller {
        Caller {
            identity: s.identity.clone(),
            role: s.role.clone(),
        }
    }
}

/// The signed-in session, re-checked against the token store (on the
/// blocking pool, like every store call: the PostgreSQL client is
/// synchronous).
async fn session(ui: &St, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookie_value(headers)?;
    let key = hash_secret(&id);
    let s = ui.sessions.lock().ok()?.get(&key).cloned()?;
    let age = ui.now().duration_since(s.signed_in).unwrap_or(Duration::ZERO);
    let reg = ui.registry.clone();
    let token_hash = s.token_hash.clone();
    let token_live = tokio::task::spawn_blocking(
        move || matches!(reg.store().token_by_hash(&token_hash), Ok(Some(row)) if row.revoked.is_none()),
    )
    .await
    .unwrap_or(false);
    if age > SESSION_MAX_AGE || !token_live {
        if let Ok(mut m) = ui.sessions.lock() {
            m.remove(&key);
        }
        return None;
    }
    Some((key, s))
}

fn to_login(next: &str, why: Option<&str>) -> Response {
    let mut url = format!("/ui/login?next={}", urlencode(next));
    if let Some(w) = why {
        url.push_str("&why=");
        url.push_str(w);
    }
    Redirect::to(&url).into_response()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_./".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Only paths of this UI are followed after sign-in (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui/") && !n.contains("//") && !n.contains('\\') && n.len() < 200 => {
            n.to_string()
        }
        _ => "/ui/inbox".to_string(),
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
    why: Option<String>,
}

async fn login_page(q: Result<Query<LoginQuery>, QueryRejection>) -> Response {
    let (next, why) = q.map_or((None, None), |Query(q)| (q.next, q.why));
    login_form(&safe_next(next.as_deref()), why.as_deref(), StatusCode::OK)
}

fn login_form(next: &str, why: Option<&str>, status: StatusCode) -> Response {
    let note = match why {
        Some("fresh") => Some("Approving needs a recent sign-in: sign in again to continue."),
        Some("bad") => Some("That token is unknown or revoked."),
        Some("expired") => Some("Your session ended; sign in again."),
        _ => None,
    };
    let body = html! {
        h1 { "Sign in" }
        @if let Some(n) = note { p class="flash bad" role="alert" { (n) } }
        form method="post" action="/ui/login" class="decide" {
            input type="hidden" name="next" value=(next);
            label for="token" { "Personal token" }
            input id="token" name="token" type="password" autocomplete="current-password" required;
            p class="muted" { "An admin creates one with " code { "portcullis token create --identity YOU --role approver" } "." }
            button type="submit" class="primary" { "Sign in" }
        }
    };
    let mut r = layout(None, "sign in", &body);
    *r.status_mut() = status;
    r
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

async fn login(State(ui): State<St>, Form(f): Form<LoginForm>) -> Response {
    let next = safe_next(f.next.as_deref());
    let token = f.token.trim().to_string();
    let ui2 = ui.clone();
    let found = tokio::task::spawn_blocking(move || {
        let hash = hash_secret(&token);
        match ui2.registry.store().token_by_hash(&hash) {
            Ok(Some(row)) if row.revoked.is_none() && token.len() <= 200 => {
                Role::parse(&row.role).ok().map(|role| (hash, row.identity, role))
            }
            _ => None,
        }
    })
    .await
    .ok()
    .flatten();
    let Some((token_hash, identity, role)) = found else {
        return login_form(&next, Some("bad"), StatusCode::UNAUTHORIZED);
    };
    let id = random_token();
    let session = Session {
        token_hash,
        identity,
        role,
        signed_in: ui.now(),
        csrf: random_token(),
    };
    if let Ok(mut m) = ui.sessions.lock() {
        if m.len() >= MAX_SESSIONS {
            if let Some(oldest) = m.iter().min_by_key(|(_, s)| s.signed_in).map(|(k, _)| k.clone()) {
                m.remove(&oldest);
            }
        }
        m.insert(hash_secret(&id), session);
    }
    let cookie = format!(
        "{COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_MAX_AGE.as_secs(),
        if ui.secure { "; Secure" } else { "" }
    );
    let mut r = Redirect::to(&next).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn logout(State(ui): State<St>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Response {
    if let Some((key, s)) = session(&ui, &headers).await {
        if s.csrf == f.csrf {
            if let Ok(mut m) = ui.sessions.lock() {
                m.remove(&key);
            }
        }
    }
    let mut r = Redirect::to("/ui/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("portcullis_session=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    r
}

/// Runs a registry call for the signed-in person on the blocking pool.
async fn with<T: Send + 'static>(
    ui: &St,
    s: &Session,
    f: impl FnOnce(&Registry, &Caller) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let reg = ui.registry.clone();
    let caller = Ui::caller(s);
    tokio::task::spawn_blocking(move || f(&reg, &caller))
        .await
        .map_err(|e| ApiError::Internal(format!("handler task: {e}")))?
}

fn short(d: &str) -> String {
    format!("{}…", d.get(..12).unwrap_or(d))
}

/// What `decide` still misses, from a request's decision.
fn missing(r: &RequestView) -> Vec<String> {
    r.decision
        .as_ref()
        .and_then(|d| serde_json::to_value(d).ok())
        .and_then(|v| v.pointer("/decision/reasons").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|x| {
            let code = x.get("code").and_then(Value::as_str)?;
            let msg = x.get("message").and_then(Value::as_str).unwrap_or("");
            Some(format!("{code}: {msg}"))
        })
        .collect()
}

async fn inbox(State(ui): State<St>, headers: HeaderMap) -> Response {
    let Some((_, s)) = session(&ui, &headers).await else {
        return to_login("/ui/inbox", None);
    };
    let open = match with(&ui, &s, |r, c| {
        Ok(r.requests(c, Some("open"))?
            .into_iter()
            .map(|v| {
                let yours = r.waits_for(c, &v);
                (v, yours)
            })
            .collect::<Vec<_>>())
    })
    .await
    {
        Ok(v) => v,
        Err(e) => return error_page(&e, Some(&s)),
    };
    let may = s.role.may_approve();
    let body = html! {
        h1 { "Inbox" }
        p class="muted" {
            (open.len()) " open promotion request" (if open.len() == 1 { "" } else { "s" })
            @if may { "; those waiting for you (your roles, not opened by you) are marked." } @else { "; your role (" (s.role.to_string()) ") cannot approve." }
        }
        @if open.is_empty() {
            p class="empty" { "Nothing waits for a decision." }
        } @else {
            table class="requests" {
                thead { tr { th scope="col" { "Request" } th scope="col" { "Model" } th scope="col" { "Stage" } th scope="col" { "Digest" } th scope="col" { "Opened" } th scope="col" { "Still missing" } } }
                tbody {
                    @for (r, yours) in &open {
                        tr data-request=(r.id) data-yours=(yours) {
                            td { a href={"/ui/requests/" (r.id)} { "#" (r.id) } @if *yours { " " span class="badge pending" { "for you" } } }
                            td { (r.model) }
                            td { (r.stage) }
                            td { code title=(r.digest) { (short(&r.digest)) } }
                            td { (r.opened_by) br; span class="muted" { (r.opened_at) } }
                            td class="wrap" { ul class="reasons" { @for m in missing(r) { li { (m) } } } }
                        }
                    }
                }
            }
        }
    };
    layout(Some(&s), "inbox", &body)
}

#[derive(Deserialize)]
struct Flash {
    done: Option<String>,
}

async fn request_page(
    State(ui): State<St>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    q: Result<Query<Flash>, QueryRejection>,
) -> Response {
    let Some((_, s)) = session(&ui, &headers).await else {
        return to_login(&format!("/ui/requests/{id}"), None);
    };
    let (view, report) = match with(&ui, &s, move |r, c| r.request_report(c, id)).await {
        Ok(v) => v,
        Err(e) => return error_page(&e, Some(&s)),
    };
    // Only known outcomes are shown; the query never puts text on the page.
    let done = q.ok().and_then(|Query(f)| f.done).and_then(|d| match d.as_str() {
        "promoted" => Some("approved; the stage moved"),
        "approved" => Some("approved; the stage still needs more"),
        "rejected" => Some("rejected"),
        _ => None,
    });
    let meta = page::Meta {
        model: Some(view.model.clone()),
        command: None,
    };
    let may = s.role.may_approve() && view.state == "open";
    let body = html! {
        @if let Some(d) = &done { p class="flash" role="status" { "Recorded: " (d) "." } }
        h1 { "Request #" (view.id) ": " (view.model) " → " (view.stage) }
        dl class="facts" {
            dt { "State" } dd { span class="state" data-state=(view.state) { (view.state) } }
            dt { "Digest" } dd { code class="digest" { "sha256:" (view.digest) } }
            dt { "Opened" } dd { (view.opened_by) ", " (view.opened_at) }
            @if let Some(b) = &view.closed_by { dt { "Closed" } dd { (b) ", " (view.closed_at.as_deref().unwrap_or("")) } }
            @if let Some(c) = &view.comment { dt { "Comment" } dd { (c) } }
        }
        (page::decision_section(&report, &meta))
        @if !report.gates.is_empty() {
            (page::gate_summary(&report.gates))
            @for g in &report.gates { (page::gate_section(g)) }
        }
        @if may {
            section class="decide" aria-labelledby="decide-h" {
                h2 id="decide-h" { "Your decision" }
                @if view.opened_by == s.identity {
                    p class="muted" { "You opened this request; a policy with forbid_author does not count your approval." }
                }
                form method="post" action={"/ui/requests/" (view.id) "/decide"} class="decide" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    label for="comment" { "Comment (required: what you checked, or why not)" }
                    textarea id="comment" name="comment" rows="3" required maxlength="4000" {}
                    button type="submit" name="action" value="approve" class="primary" { "Approve" }
                    button type="submit" name="action" value="reject" class="danger" { "Reject" }
                }
            }
        }
    };
    layout(Some(&s), &format!("request #{id}"), &body)
}

#[derive(Deserialize)]
struct DecideForm {
    csrf: String,
    action: String,
    comment: String,
}

async fn decide(
    State(ui): State<St>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(f): Form<DecideForm>,
) -> Response {
    let back = format!("/ui/requests/{id}");
    let Some((_, s)) = session(&ui, &headers).await else {
        return to_login(&back, Some("expired"));
    };
    if f.csrf.is_empty() || f.csrf != s.csrf {
        return error_page(
            &ApiError::Forbidden(
                "the form is stale or not from this site (CSRF token mismatch); reload the page".into(),
            ),
            Some(&s),
        );
    }
    let age = ui.now().duration_since(s.signed_in).unwrap_or(Duration::ZERO);
    if age > FRESH_SIGN_IN {
        return to_login(&back, Some("fresh"));
    }
    let comment = f.comment.trim().to_string();
    if comment.is_empty() {
        return error_page(
            &ApiError::BadRequest("a comment is required: say what you checked".into()),
            Some(&s),
        );
    }
    let action = f.action.clone();
    let result = with(&ui, &s, move |r, c| match action.as_str() {
        "approve" => r.approve(c, id, Some(&comment), None),
        "reject" => r.reject(c, id, &comment),
        other => Err(ApiError::BadRequest(format!(
            "unknown action '{other}'; expected approve or reject"
        ))),
    })
    .await;
    match result {
        Ok(v) => {
            let done = match (f.action.as_str(), v.state.as_str()) {
                ("approve", "promoted") => "promoted",
                ("approve", _) => "approved",
                _ => "rejected",
            };
            Redirect::to(&format!("{back}?done={done}")).into_response()
        }
        Err(e) => error_page(&e, Some(&s)),
    }
}

/// The re-check jobs shown per model.
const RECENT_JOBS: usize = 10;

fn job_class(state: &str) -> &'static str {
    match state {
        "passed" => "pass",
        "failed" | "error" => "fail",
        _ => "pending",
    }
}

async fn models(State(ui): State<St>, headers: HeaderMap) -> Response {
    let Some((_, s)) = session(&ui, &headers).await else {
        return to_login("/ui/models", None);
    };
    let data = with(&ui, &s, |r, c| {
        let mut out = Vec::new();
        for name in r.model_names() {
            let m = r.model(c, &name)?;
            let mut hist = Vec::new();
            let mut risks = std::collections::BTreeMap::new();
            if let Some(stages) = m.get("stages").and_then(Value::as_object) {
                for (stage, alias) in stages {
                    hist.push((stage.clone(), r.history(c, &name, stage, None)?));
                    if let Some(d) = alias.get("digest").and_then(Value::as_str) {
                        risks.insert(stage.clone(), r.risks(&name, stage, d)?);
                    }
                }
            }
            let mut jobs = r.jobs(c, Some(&name))?;
            jobs.truncate(RECENT_JOBS);
            out.push((name, m, hist, risks, jobs));
        }
        Ok(out)
    })
    .await;
    let data = match data {
        Ok(d) => d,
        Err(e) => return error_page(&e, Some(&s)),
    };
    let body = html! {
        h1 { "Models" }
        @for (name, m, hist, risks, jobs) in &data {
            section class="model" data-model=(name) {
                h2 { (name) }
                p class="muted" { "policy sha256 " code { (m.get("policy_sha256").and_then(Value::as_str).unwrap_or("")) } }
                table class="stages" {
                    thead { tr { th scope="col" { "Stage" } th scope="col" { "Current digest" } th scope="col" { "Since" } th scope="col" { "Request" } th scope="col" { "Re-checks" } } }
                    tbody {
                        @for (stage, a) in m.get("stages").and_then(Value::as_object).into_iter().flatten() {
                            tr data-stage=(stage) data-digest=(a.get("digest").and_then(Value::as_str).unwrap_or("")) {
                                td { (stage) }
                                @if a.is_null() {
                                    td colspan="3" class="muted" { "nothing promoted" }
                                } @else {
                                    td { code title=(a["digest"].as_str().unwrap_or("")) { (short(a["digest"].as_str().unwrap_or(""))) } }
                                    td { (a["moved_at"].as_str().unwrap_or("")) }
                                    td { a href={"/ui/requests/" (a["request"])} { "#" (a["request"]) } }
                                    td class="risk" {
                                        @match risks.get(stage.as_str()) {
                                            Some(rs) if rs.iter().any(|x| x.revokes) => {
                                                span class="badge fail" { "revoked" } " "
                                            }
                                            Some(rs) if !rs.is_empty() => {
                                                span class="badge pending" { "at risk" } " "
                                            }
                                            _ => { span class="muted" { "no open risk" } }
                                        }
                                        @for x in risks.get(stage.as_str()).into_iter().flatten() {
                                            div class="muted" {
                                                "job #" (x.job) " " (x.gate) " " (x.state) ": "
                                                (x.reason.as_deref().unwrap_or(""))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if !jobs.is_empty() {
                    h3 { "Recent re-checks" }
                    table class="jobs" {
                        thead { tr { th scope="col" { "Job" } th scope="col" { "Stage" } th scope="col" { "Gate" } th scope="col" { "Digest" } th scope="col" { "State" } th scope="col" { "Agent" } th scope="col" { "Queued" } th scope="col" { "Finished" } th scope="col" { "Finding" } } }
                        tbody {
                            @for j in jobs {
                                tr data-job=(j.id) {
                                    td { "#" (j.id) }
                                    td { (j.stage) }
                                    td { (j.gate) " " span class="muted" { "(on fail: " (j.on_fail) ")" } }
                                    td { code title=(j.digest) { (short(&j.digest)) } }
                                    td { span class={"badge " (job_class(&j.state))} { (j.state) } }
                                    td { (j.agent.as_deref().unwrap_or("")) }
                                    td { (j.enqueued_at) }
                                    td { (j.finished_at.as_deref().unwrap_or("")) }
                                    td { (j.reason.as_deref().unwrap_or("")) }
                                }
                            }
                        }
                    }
                }
                h3 { "History: who approved what" }
                table class="history" {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Stage" } th scope="col" { "Digest" } th scope="col" { "Moved by" } th scope="col" { "Approvers" } th scope="col" { "Log entry" } } }
                    tbody {
                        @for (stage, moves) in hist {
                            @for mv in moves.iter().rev() {
                                tr {
                                    td { (mv.moved_at) }
                                    td { (stage) }
                                    td { code title=(mv.digest) { (short(&mv.digest)) } }
                                    td { (mv.by) }
                                    td { (mv.approvers.join(", ")) }
                                    td { a href={"/ui/log#entry-" (mv.log_index)} { "#" (mv.log_index) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(Some(&s), "models", &body)
}

/// The newest entries shown on the log page.
const LOG_PAGE: u64 = 100;

async fn log_page(State(ui): State<St>, headers: HeaderMap) -> Response {
    let Some((_, s)) = session(&ui, &headers).await else {
        return to_login("/ui/log", None);
    };
    let data = with(&ui, &s, |r, _| {
        let checkpoint = r.log().checkpoint()?;
        let size = r.log().size()?;
        let start = size.saturating_sub(LOG_PAGE);
        let entries = if size > 0 {
            r.log().entries(start, size)?
        } else {
            Vec::new()
        };
        let mut rows = Vec::new();
        for (i, e) in entries.into_iter().enumerate() {
            let index = start + i as u64;
            let proof = r.log().inclusion(index, size)?;
            rows.push((index, String::from_utf8_lossy(&e).into_owned(), proof.hashes));
        }
        rows.reverse();
        Ok((checkpoint, size, rows, r.log().verifier_key()))
    })
    .await;
    let (checkpoint, size, rows, vkey) = match data {
        Ok(d) => d,
        Err(e) => return error_page(&e, Some(&s)),
    };
    let body = html! {
        h1 { "Audit log" }
        p { (size) " entries. Every change to a request, a stage or a token is a leaf of an RFC 6962 Merkle tree; "
            "check it yourself with " code { "portcullis log verify" } "." }
        h2 { "Latest signed checkpoint" }
        pre class="checkpoint" { (checkpoint) }
        p class="muted" { "verifier key " code class="wrap" { (vkey) } }
        h2 { "Entries (newest first)" }
        @for (index, text, proof) in &rows {
            @let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            article class="entry" id={"entry-" (index)} data-index=(index) data-kind=(v.get("event").and_then(Value::as_str).unwrap_or("")) {
                h3 { "#" (index) " " code { (v.get("event").and_then(Value::as_str).unwrap_or("?")) }
                     " by " (v.get("actor").and_then(Value::as_str).unwrap_or("?"))
                     " " span class="muted" { (v.get("time").and_then(Value::as_str).unwrap_or("")) } }
                pre { (serde_json::to_string_pretty(&v).unwrap_or_else(|_| text.clone())) }
                details class="proof" {
                    summary { "Inclusion proof in the tree of " (size) " (" (proof.len()) " hashes)" }
                    ol { @for h in proof { li { code class="wrap" { (h) } } } }
                }
            }
        }
    };
    layout(Some(&s), "audit log", &body)
}

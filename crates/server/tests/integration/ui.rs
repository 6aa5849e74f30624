//! The web UI in a real browser (headless Chromium over WebDriver) against
//! a registry on 127.0.0.1: sign in with a token, find the request in the
//! inbox, read the fairness plot on its page, approve it, see the stage
//! move, and find the approval in the audit log. Screenshots of each page
//! go to `target/tmp/screenshots/`. The security properties of the forms
//! and the cookie are checked over plain HTTP, without the browser.

use std::path::{Path, PathBuf};

use portcullis_webdriver::Browser;

use crate::support::{start_on, Backend, Server, TestDb};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The credit-scoring example's model and data behind a fairness gate in
/// `dev`, and one model-risk approval (not the author's) for `prod`.
fn policy() -> String {
    let ex = repo().join("examples/credit-scoring");
    format!(
        r#"
version: 1
model: {{ path: {model}, kind: onnx-classifier }}
data:
  eval: {{ path: {data}, label: label, sensitive: [sex, race] }}
trust:
  runners: [{{ name: ci, key: ci.pub }}]
  approvers:
    - {{ name: alice, key: alice.pub, roles: [model-risk] }}
    - {{ name: bob, key: bob.pub, roles: [model-risk] }}
  services: [{{ name: registry, key: registry.pub }}]
stages:
  dev: {{ gates: [fairness] }}
  prod:
    extends: dev
    approvals: {{ required: 1, roles: [model-risk], forbid_author: true }}
gates:
  fairness:
    kind: fairness
    require: {{ "demographic_parity_difference[sex]": "<= 0.25" }}
"#,
        model = ex.join("models/candidate.onnx").display(),
        data = ex.join("data/applicants.csv").display(),
    )
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
}

/// A registry with one open prod request for the candidate; returns it and
/// the request id, the digest and alice's token.
fn with_open_request() -> (Server, i64, String, String) {
    with_open_request_on(Backend::Sqlite)
}

fn with_open_request_on(backend: Backend) -> (Server, i64, String, String) {
    let s = start_on(&policy(), backend);
    let ci = s.token("ci", "runner");
    let alice = s.token("alice", "approver");
    let (digest, bundle) = s.run_dev("dev");
    let (st, v) = s.push(&ci, &digest, &bundle);
    assert_eq!(st, 200, "{v}");
    let (st, req) = s.promote(&ci, "prod", &digest);
    assert_eq!((st, req["state"].as_str()), (201, Some("open")), "{req}");
    (s, req["id"].as_i64().unwrap(), digest.to_hex(), alice)
}

#[test]
fn an_approver_signs_in_finds_the_request_reads_the_fairness_plot_approves_and_sees_it_logged() {
    let (s, id, digest, alice) = with_open_request();
    let Some(b) = Browser::for_test("web_ui_approval") else {
        return;
    };
    let shots = screenshots();

    // Not signed in: the inbox sends you to the sign-in page.
    b.goto(&format!("{}/ui/inbox", s.url)).unwrap();
    assert!(b.url().unwrap().contains("/ui/login"), "{}", b.url().unwrap());
    b.screenshot(&shots.join("ui-login.png"), false).unwrap();
    let field = b.find("input#token").unwrap();
    // The field has a label a screen reader can read.
    b.find("label[for='token']").unwrap();
    b.type_text(&field, &alice).unwrap();
    b.click(&b.find("form.decide button[type='submit']").unwrap())
        .unwrap();
    b.wait_for("strong.who").unwrap();

    // The inbox lists the request as waiting for alice, with what is missing.
    assert!(b.url().unwrap().ends_with("/ui/inbox"), "{}", b.url().unwrap());
    assert_eq!(b.text(&b.find("strong.who").unwrap()).unwrap(), "alice");
    let row = b.find(&format!("tr[data-request='{id}']")).unwrap();
    assert_eq!(b.attr(&row, "data-yours").unwrap().as_deref(), Some("true"));
    assert!(
        b.text(&row).unwrap().contains("approvals-missing"),
        "{}",
        b.text(&row).unwrap()
    );
    b.screenshot(&shots.join("ui-inbox.png"), true).unwrap();

    // The request page: the decision, then the fairness gate's plot with
    // one bar group per sex and race group.
    b.click(&b.find(&format!("tr[data-request='{id}'] a")).unwrap())
        .unwrap();
    b.wait_for("textarea#comment").unwrap();
    assert!(b.url().unwrap().ends_with(&format!("/ui/requests/{id}")));
    let groups: Vec<String> = b
        .find_all("section.gate[data-kind='fairness'] g.bar-group")
        .unwrap()
        .iter()
        .map(|e| b.attr(e, "data-label").unwrap().unwrap_or_default())
        .collect();
    for g in ["Female", "Male", "White", "Black"] {
        assert!(groups.iter().any(|x| x == g), "no bar for {g}: {groups:?}");
    }
    assert_eq!(
        b.text(&b.find("section.decision .verdict").unwrap()).unwrap(),
        "DENIED"
    );
    assert_eq!(b.script("return document.scripts.length;").unwrap(), 0);
    b.screenshot(&shots.join("ui-request.png"), true).unwrap();

    // Approve with a comment.
    b.resize(1280, 900).unwrap();
    b.type_text(
        &b.find("textarea#comment").unwrap(),
        "fairness within bounds on the holdout",
    )
    .unwrap();
    b.click(&b.find("button[value='approve']").unwrap()).unwrap();
    let flash = b.text(&b.wait_for("p.flash").unwrap()).unwrap();
    assert!(flash.contains("the stage moved"), "{flash}");
    assert_eq!(
        b.attr(&b.find("span.state").unwrap(), "data-state")
            .unwrap()
            .as_deref(),
        Some("promoted")
    );
    b.screenshot(&shots.join("ui-approved.png"), false).unwrap();

    // The models page shows prod at the digest, moved by alice.
    b.goto(&format!("{}/ui/models", s.url)).unwrap();
    let prod = b.find("tr[data-stage='prod']").unwrap();
    assert_eq!(
        b.attr(&prod, "data-digest").unwrap().as_deref(),
        Some(digest.as_str())
    );
    assert!(b
        .text(&b.find("table.history").unwrap())
        .unwrap()
        .contains("alice"));
    b.screenshot(&shots.join("ui-models.png"), true).unwrap();

    // The audit log holds alice's approval and the move, each with a proof.
    b.goto(&format!("{}/ui/log", s.url)).unwrap();
    let moved = b.find("article.entry[data-kind='alias.moved']").unwrap();
    assert!(b.text(&moved).unwrap().contains("alice"));
    let accepted: Vec<String> = b
        .find_all("article.entry[data-kind='evidence.accepted']")
        .unwrap()
        .iter()
        .map(|e| b.text(e).unwrap())
        .collect();
    assert!(accepted.iter().any(|t| t.contains("by alice")), "{accepted:?}");
    b.find("pre.checkpoint").unwrap();
    b.screenshot(&shots.join("ui-log.png"), false).unwrap();

    // And the deploy-time question agrees.
    let (st, v) = s.call("GET", "/v1/models/m/stages/prod", Some(&alice), None);
    assert_eq!((st, v["digest"].as_str()), (200, Some(digest.as_str())), "{v}");

    // At phone width the inbox does not scroll sideways.
    b.goto(&format!("{}/ui/inbox", s.url)).unwrap();
    b.resize(375, 800).unwrap();
    let overflow = b
        .script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
        .unwrap();
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "inbox overflows at 375 px by {overflow}"
    );
}

/// A client that keeps no cookies and follows no redirects.
fn raw() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn sign_in(s: &Server, token: &str, next: &str) -> reqwest::blocking::Response {
    raw()
        .post(format!("{}/ui/login", s.url))
        .form(&[("token", token), ("next", next)])
        .send()
        .unwrap()
}

fn cookie_of(r: &reqwest::blocking::Response) -> String {
    let set = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    set.split(';').next().unwrap().to_string()
}

#[test]
fn the_ui_refuses_forged_forms_bad_tokens_open_redirects_and_revoked_sessions() {
    refuses_forged_forms(with_open_request());
}

/// On PostgreSQL every page's token check goes through the synchronous
/// client, which must never run on the async executor.
#[test]
fn the_ui_refuses_forged_forms_bad_tokens_open_redirects_and_revoked_sessions_on_postgres() {
    if let Some(db) = TestDb::create() {
        refuses_forged_forms(with_open_request_on(Backend::Postgres(db.url.clone())));
    }
}

fn refuses_forged_forms((s, id, _, alice): (Server, i64, String, String)) {
    let http = raw();
    // Unauthenticated pages redirect to the sign-in page.
    let r = http.get(format!("{}/ui/requests/{id}", s.url)).send().unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/ui/login?next=/ui/requests/"));
    // A wrong token is refused with the page, not a session.
    let r = sign_in(&s, "pcr_not-a-token", "/ui/inbox");
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    // The session cookie is HttpOnly and SameSite=Strict; `next` off-site is ignored.
    let r = sign_in(&s, &alice, "//evil.example/x");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui/inbox");
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "plain HTTP must not set Secure: {set}");
    let cookie = cookie_of(&r);
    // The page carries a policy that allows no script.
    let page = http
        .get(format!("{}/ui/requests/{id}", s.url))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    let text = page.text().unwrap();
    assert!(text.contains("default-src 'none'") && !text.contains("<script"));
    // A decision without the session's CSRF token is refused, and nothing moves.
    let forged = http
        .post(format!("{}/ui/requests/{id}/decide", s.url))
        .header("cookie", &cookie)
        .form(&[("csrf", "guess"), ("action", "approve"), ("comment", "ok")])
        .send()
        .unwrap();
    assert_eq!(forged.status(), 403);
    let (_, req) = s.call("GET", &format!("/v1/requests/{id}"), Some(&alice), None);
    assert_eq!(req["state"], "open");
    // An empty comment is refused too.
    let csrf = text
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let empty = http
        .post(format!("{}/ui/requests/{id}/decide", s.url))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("action", "reject"), ("comment", "  ")])
        .send()
        .unwrap();
    assert_eq!(empty.status(), 400);
    // bob's token is scoped to a role he does not hold in the policy: the
    // request is listed for him but not marked as waiting for him.
    let bob = s.token("bob", "approver:ml-lead");
    let r = sign_in(&s, &bob, "/ui/inbox");
    let inbox = http
        .get(format!("{}/ui/inbox", s.url))
        .header("cookie", cookie_of(&r))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        inbox.contains(&format!("data-request=\"{id}\" data-yours=\"false\"")),
        "{inbox}"
    );
    // Revoking the token ends the session at once.
    let (_, tokens) = s.call("GET", "/v1/tokens", Some(crate::support::BOOT), None);
    let tid = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["identity"] == "alice")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (st, _) = s.call(
        "DELETE",
        &format!("/v1/tokens/{tid}"),
        Some(crate::support::BOOT),
        None,
    );
    assert_eq!(st, 204);
    let after = http
        .get(format!("{}/ui/inbox", s.url))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(after.status(), 303, "a revoked token's session still works");
}

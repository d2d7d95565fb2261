//! The published contract against real answers: a walk through the REST routes of a real
//! server checks every answer against the OpenAPI document the server itself serves at
//! `/openapi.json` (the response by exact status, else `4XX`/`5XX`, its JSON body against
//! the response's schema, its documented headers and content type); and real WebSocket
//! conversations check every frame sent against `ClientFrame` and every frame received
//! against `ServerFrame` of docs/schema/ws-frames.schema.json.

use confab_e2e::{spawn_with, Reply, TestApp};
use reqwest::RequestBuilder;
use serde_json::Value;

mod check;
mod frames;
mod operator;
mod sockets;
mod strict;
mod walk;

use check::{Answer, Contract};

/// The admin token of the server under contract.
const TOKEN: &str = "admin-token-for-the-contract-tests-3e7a";
/// The one origin whose pages may open sockets.
const ORIGIN: &str = "https://app.example";

/// The share of the document's operations the walk must answer: all of them, so a new
/// route is walked as soon as it is documented.
const MIN_COVERAGE: f64 = 1.0;

/// Documented exact statuses the walk does not produce, and why.
const NOT_PRODUCED: &[(&str, &str)] = &[(
    "GET /readyz 503",
    "needs Redis or MongoDB to fail under the server (tests/e2e/health.rs, when configured)",
)];

/// A server with the admin token, plugins managed through the API, one allowed origin,
/// short unread pages and no throttle a walk could meet.
async fn contract_app() -> TestApp {
    spawn_with(|c| {
        c.admin.token = TOKEN.to_owned();
        c.plugins.enabled = true;
        c.plugins.install_bundled = false;
        c.plugins.watch = false;
        c.plugins.dir = c.server.data_dir.join("plugins");
        c.plugins.deadline_ms = 200;
        c.server.cors_origins = vec![ORIGIN.to_owned()];
        // Unread comes in pages of two, so a short walk sees "more unread".
        c.chat.unread_page = 2;
    })
    .await
}

fn admin() -> String {
    format!("Bearer {TOKEN}")
}

/// A client of the server under contract that checks each answer against the document.
struct Walk<'a> {
    app: &'a TestApp,
    contract: Contract,
}

impl<'a> Walk<'a> {
    /// Fetches `/openapi.json` from the server (itself an answer under contract).
    async fn start(app: &'a TestApp) -> Self {
        let served = app.get("/openapi.json", None, &[]).await;
        assert_eq!(served.http, 200, "{:?}", served.body);
        assert_eq!(served.body["openapi"], "3.1.0");
        let mut walk = Self {
            app,
            contract: Contract::new(served.body.clone()),
        };
        walk.contract
            .check("GET", "/openapi.json", &answer(&served));
        walk
    }

    /// Sends `builder`'s request and checks the answer against the operation of its method
    /// and path.
    async fn call(&mut self, builder: RequestBuilder) -> Reply {
        let request = builder.build().expect("a valid request");
        let method = request.method().as_str().to_owned();
        let path = request.url().path().to_owned();
        let reply = self.execute(request).await;
        self.contract.check(&method, &path, &answer(&reply));
        reply
    }

    /// Sends a request to a route the document does not have: a refusal in `ErrorEnvelope`.
    async fn outside(&mut self, builder: RequestBuilder) -> Reply {
        let request = builder.build().expect("a valid request");
        let label = format!("{} {}", request.method(), request.url().path());
        let reply = self.execute(request).await;
        self.contract.check_outside(&label, &answer(&reply));
        reply
    }

    async fn execute(&self, request: reqwest::Request) -> Reply {
        let response = self
            .app
            .client
            .execute(request)
            .await
            .expect("the request reaches the server");
        let http = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a body").to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            http,
            headers,
            body,
            bytes,
        }
    }

    /// A request builder, as the harness makes them.
    fn req(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> RequestBuilder {
        self.app.request(method, path, token)
    }

    /// Records a WebSocket upgrade: 101 and no body when it opened, else the refusal.
    fn upgrade(&mut self, path_and_query: &str, outcome: Result<(), (u16, Value)>) {
        let path = path_and_query.split('?').next().unwrap_or_default();
        let (status, bytes) = match outcome {
            Ok(()) => (101, Vec::new()),
            Err((status, body)) => (status, body.to_string().into_bytes()),
        };
        let answer = Answer {
            status,
            headers: None,
            bytes: &bytes,
        };
        self.contract.check("GET", path, &answer);
    }

    /// Prints what the walk covered and asserts the contract held.
    fn finish(self) {
        let contract = self.contract;
        let all = contract.operations();
        let answered = contract.answered();
        let never: Vec<&String> = all
            .iter()
            .filter(|op| !answered.contains_key(*op))
            .collect();
        let share = answered.len() as f64 / all.len() as f64;
        println!(
            "contract: {} answers checked; {} of {} operations answered ({:.1}%)",
            contract.checked(),
            answered.len(),
            all.len(),
            share * 100.0
        );
        for (operation, statuses) in answered {
            println!("  answered {operation}: {statuses:?}");
        }
        println!("operations never answered: {never:?}");
        let unseen = contract.headers_never_seen();
        for note in contract.notes() {
            println!("field not in the schema: {note}");
        }
        let unproduced: Vec<String> = contract
            .statuses_never_answered()
            .into_iter()
            .filter(|s| !NOT_PRODUCED.iter().any(|(known, _)| known == s))
            .collect();
        for (status, why) in NOT_PRODUCED {
            println!("documented status not produced here: {status}: {why}");
        }
        assert!(
            contract.failures().is_empty(),
            "{} answers do not match the document:\n{}",
            contract.failures().len(),
            contract.failures().join("\n")
        );
        assert!(
            unseen.is_empty(),
            "documented headers never sent: {unseen:?}"
        );
        assert!(
            unproduced.is_empty(),
            "documented statuses no answer had: {unproduced:?}"
        );
        assert!(
            share >= MIN_COVERAGE,
            "only {:.1}% of the operations were answered; never: {never:?}",
            share * 100.0
        );
    }
}

fn answer(reply: &Reply) -> Answer<'_> {
    Answer {
        status: reply.http,
        headers: Some(&reply.headers),
        bytes: &reply.bytes,
    }
}

#[tokio::test]
async fn every_rest_answer_fits_the_served_openapi_document() {
    let app = contract_app().await;
    let mut walk = Walk::start(&app).await;
    let mut cast = walk::accounts(&mut walk).await;
    walk::social(&mut walk, &mut cast).await;
    walk::files(&mut walk, &cast).await;
    let said = operator::chat(&mut walk, &cast).await;
    operator::web_and_probes(&mut walk).await;
    operator::plugins(&mut walk, &cast).await;
    operator::moderation(&mut walk, &cast, &said).await;
    walk::farewells(&mut walk, &cast).await;
    walk.finish();
}

#[tokio::test]
async fn the_check_refuses_answers_that_do_not_fit() {
    let app = contract_app().await;
    let mut walk = Walk::start(&app).await;
    let user = app.user("checked").await;
    let list = app.get("/friend/list", Some(&user.access), &[]).await;
    list.expect(200, 200);
    // A list is not a profile.
    assert!(!walk.contract.check("GET", "/user/me", &answer(&list)));
    // A status the operation does not document (no 3XX range).
    let moved = Answer {
        status: 302,
        headers: Some(&list.headers),
        bytes: b"",
    };
    assert!(!walk.contract.check("GET", "/user/me", &moved));
    // A path the document does not have.
    assert!(!walk.contract.check("GET", "/user/nothing", &answer(&list)));
    // A success envelope missing a field the schema requires.
    let me = app.get("/user/me", Some(&user.access), &[]).await;
    let mut body = me.body.clone();
    body["data"]
        .as_object_mut()
        .expect("a profile")
        .remove("UserName");
    let bytes = body.to_string().into_bytes();
    let broken = Answer {
        status: 200,
        headers: Some(&me.headers),
        bytes: &bytes,
    };
    assert!(!walk.contract.check("GET", "/user/me", &broken));
    // The real answer fits.
    assert!(walk.contract.check("GET", "/user/me", &answer(&me)));
    assert_eq!(
        walk.contract.failures().len(),
        4,
        "{:#?}",
        walk.contract.failures()
    );
    // A field the schema does not list is allowed (objects are open), and noted.
    assert!(
        walk.contract.notes().is_empty(),
        "{:#?}",
        walk.contract.notes()
    );
    let mut body = me.body.clone();
    body["data"]["Surprise"] = Value::from(1);
    let bytes = body.to_string().into_bytes();
    let extra = Answer {
        status: 200,
        headers: Some(&me.headers),
        bytes: &bytes,
    };
    assert!(walk.contract.check("GET", "/user/me", &extra));
    let notes = walk.contract.notes();
    assert!(notes.iter().any(|n| n.contains("Surprise")), "{notes:#?}");
    // A success must fit its route's envelope, not merely the refusal's looser shape
    // (whose `status` admits 200 and whose `data` may be text).
    let added = app
        .json(
            reqwest::Method::POST,
            "/friend/add",
            Some(&user.access),
            serde_json::json!({"target_id": app.user("friend").await.id}),
        )
        .await;
    added.expect(200, 200);
    let bytes = br#"{"status":200,"data":"oops","msg":"success","error":""}"#;
    let odd = Answer {
        status: 200,
        headers: Some(&added.headers),
        bytes,
    };
    assert!(walk.contract.check("POST", "/friend/add", &answer(&added)));
    assert!(!walk.contract.check("POST", "/friend/add", &odd));
}

#[test]
fn the_frame_check_refuses_frames_that_do_not_fit() {
    let frames = frames::Frames::load();
    let welcome = serde_json::json!({"from": "", "code": 50002, "content": "已连接至服务器"});
    assert!(frames
        .judge(&welcome)
        .is_ok_and(|fits| fits.contains(&"Welcome".to_owned())));
    // Missing the text, the id and the time.
    assert!(frames
        .judge(&serde_json::json!({"from": "1", "code": 50001}))
        .is_err());
    // An edit notice without its message fits only the refusal's shape: not an answer.
    let edit = serde_json::json!({"from": "", "code": 50010, "content": ""});
    assert!(frames.judge(&edit).is_err());
    // A field the shape does not list is allowed, and noted.
    let fits = frames.judge(&welcome).unwrap_or_default();
    assert_eq!(frames.beyond(&fits, &welcome), None);
    let mut extra = welcome.clone();
    extra["surprise"] = serde_json::json!(true);
    let fits = frames.judge(&extra).unwrap_or_default();
    assert!(frames
        .beyond(&fits, &extra)
        .is_some_and(|note| note.contains("surprise")));
    let typo = serde_json::json!({"type": 1, "contnet": "hi"});
    assert!(!frames.is_client_frame(&typo));
}

#[tokio::test]
async fn every_websocket_frame_fits_the_published_frame_schema() {
    let app = contract_app().await;
    sockets::walk(&app).await;
}

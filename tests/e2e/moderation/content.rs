//! Dissolving groups and removing messages: what live sockets and history show.

use confab_e2e::ws::Ended;
use reqwest::Method;
use serde_json::{json, Value};

use super::{admin, admin_app, audit_trail, group_socket, pair, post, private_socket};

#[tokio::test]
async fn dissolving_a_group_and_removing_messages_reach_live_sockets() {
    let app = admin_app().await;
    let owner = app.user("owner").await;
    let member = app.user("member").await;
    let g = app
        .create_group(&owner, json!({"group_name": "to dissolve"}))
        .await;
    app.join_group(&member, g).await.expect(200, 200);
    let mut o = group_socket(&app, &owner, g).await;
    let mut m = group_socket(&app, &member, g).await;

    // A group message removed by the operator: everyone hears 50011 from "0", and
    // history no longer has it.
    let kept = post(&mut m, "this stays").await;
    assert_eq!(o.recv().await["content"], "this stays");
    let said = post(&mut m, "this goes").await;
    assert_eq!(o.recv().await["content"], "this goes");
    let removed = admin(&app, Method::DELETE, &format!("/admin/messages/{said}")).await;
    removed.expect(200, 200);
    assert_eq!(
        removed.data(),
        &json!({"id": said, "sender": member.id, "recipient": null, "group_id": g,
                "sent_at": removed.data()["sent_at"]})
    );
    for ws in [&mut o, &mut m] {
        let told = ws.until_code(50011).await.0;
        assert_eq!(
            (&told["id"], &told["from"], &told["group_id"]),
            (&json!(said), &json!("0"), &json!(g))
        );
    }
    m.send(json!({"type": 2, "content": "0"})).await;
    let (_, listed) = m.until_code(50003).await;
    let ids: Vec<&Value> = listed.iter().map(|f| &f["id"]).collect();
    assert!(
        ids.contains(&&json!(kept)) && !ids.contains(&&json!(said)),
        "{listed:?}"
    );
    admin(&app, Method::DELETE, &format!("/admin/messages/{said}"))
        .await
        .expect(404, 30021);

    // A private message: both sides hear it, named as the sender's recall.
    let mut a = private_socket(&app, &owner, &member).await;
    let mut b = private_socket(&app, &member, &owner).await;
    let private = post(&mut a, "psst").await;
    assert_eq!(b.until_code(50001).await.0["content"], "psst");
    admin(&app, Method::DELETE, &format!("/admin/messages/{private}"))
        .await
        .expect(200, 200);
    for ws in [&mut a, &mut b] {
        let told = ws.until_code(50011).await.0;
        assert_eq!(
            (&told["id"], &told["from"]),
            (&json!(private), &json!(owner.id.to_string()))
        );
    }

    // The group dissolved: both members' group sockets close, the group is gone.
    let dissolved = admin(&app, Method::DELETE, &format!("/admin/groups/{g}")).await;
    dissolved.expect(200, 200);
    assert_eq!(
        dissolved.data(),
        &json!({"id": g, "name": "to dissolve", "owner": owner.id, "members": 2})
    );
    assert_eq!(o.ended().await, Ended::Closed(1008));
    assert_eq!(m.ended().await, Ended::Closed(1008));
    app.get(
        "/group/members",
        Some(&owner.access),
        &[("group_id", &g.to_string())],
    )
    .await
    .expect(200, 30009);
    let joined = app.get("/group/joined", Some(&member.access), &[]).await;
    assert_eq!(joined.data(), &json!([]));
    admin(&app, Method::DELETE, &format!("/admin/groups/{g}"))
        .await
        .expect(404, 30021);

    assert_eq!(
        audit_trail(&app).await,
        [
            pair("group.dissolve", format!("group:{g}")),
            pair("message.remove", format!("message:{private}")),
            pair("message.remove", format!("message:{said}")),
        ]
    );
}

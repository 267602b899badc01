//! Products and licenses: the reseller portal's workflow, activation limits,
//! revocation, expiry and the cascade on client delete.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{app, unique};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn only_the_admin_creates_products_and_everyone_lists_them() {
    let app = app();
    let p = app.partner().await;
    let product = app.product().await;
    app.create_product(&p.key, json!({ "name": "x", "slug": unique("x") })).await.problem(403, "forbidden");
    let dup = app.create_product(&app.admin, json!({ "name": "dup", "slug": product["slug"] })).await;
    dup.problem(409, "name_taken");
    assert_eq!(dup.error_fields(), ["slug"], "the field taken is the slug, not the (free) name");
    let res = app.create_product(&app.admin, json!({ "name": "", "slug": "Not A Slug" })).await;
    assert_eq!(res.error_fields(), ["name", "slug"]);
    let listed = app.list_products(&p.key).await;
    assert!(listed.expect(200)["data"].as_array().unwrap().iter().any(|x| x["id"] == product["id"]));
}

#[tokio::test]
async fn the_reseller_workflow_from_sub_client_to_revoked_licenses() {
    let app = app();
    let reseller = app.partner().await;
    let agency = app.sub_partner(&reseller).await;
    let product = app.product().await;
    // A sub-client, made by the reseller for its agency.
    let client = app
        .create_client(&reseller.key, json!({ "name": unique("shop"), "email": format!("{}@example.com", unique("s")), "directPartner": { "id": agency.id } }))
        .await;
    let client = client.expect(201).clone();
    let cid = id(&client);

    let res = app
        .create_license(&reseller.key, json!({ "productId": product["id"], "tier": "pro", "clientId": cid, "maxActivations": 2 }))
        .await;
    let license = res.expect(201).clone();
    let key = license["licenseKey"].as_str().unwrap().to_owned();
    assert_eq!(license["keyPrefix"], &key[..12]);
    assert_eq!((license["status"].clone(), license["tier"].clone()), (json!("active"), json!("pro")));
    assert_eq!(license["product"], json!({ "id": product["id"], "name": product["name"], "slug": product["slug"] }), "product is {{ id, name, slug }}");
    let second = app.create_license(&agency.key, json!({ "productId": product["id"], "tier": "basic", "clientId": cid })).await;
    second.expect(201);

    let listed = app.client_licenses(&reseller.key, &cid).await;
    let listed = listed.expect(200);
    assert_eq!(listed["total"], 2);
    assert!(listed.to_string().find(&key).is_none(), "keys are shown once");

    let activated = app.activate(&key, "Shop.Example.com").await;
    let activated = activated.expect(200);
    assert_eq!(activated["activations"][0]["domain"], "shop.example.com");
    app.activate(&key, "shop.example.com").await.expect(200);
    let c = app.get_client(&reseller.key, &cid).await;
    assert_eq!((c.expect(200)["licenseCount"].clone(), c.body["domainCount"].clone()), (json!(2), json!(1)));

    let events = app.list_events(&reseller.key, "?type=license.activated").await;
    let events = events.expect(200);
    assert_eq!(events["total"], 1, "activating the same domain twice is harmless");
    assert_eq!(events["data"][0]["data"]["object"]["domain"], "shop.example.com");

    // Deleting the client revokes its licenses.
    assert_eq!(app.delete_client(&reseller.key, &cid).await.status, 204);
    let after = app.get_license(&reseller.key, &id(&license)).await;
    assert_eq!(after.expect(200)["status"], "revoked");
    app.activate(&key, "other.example.com").await.problem(409, "invalid_transition");
    let revoked = app.list_events(&reseller.key, "?type=license.revoked").await;
    assert_eq!(revoked.expect(200)["total"], 2);
}

#[tokio::test]
async fn activation_stops_at_the_limit_and_deactivation_frees_a_place() {
    let app = app();
    let p = app.partner().await;
    let product = app.product().await;
    let c = app.client(&p).await;
    let license = app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": c["id"] })).await;
    let key = license.expect(201)["licenseKey"].as_str().unwrap().to_owned();
    app.activate(&key, "a.example.com").await.expect(200);
    app.activate(&key, "b.example.com").await.problem(409, "invalid_transition");
    let off = app.deactivate(&key, "a.example.com").await;
    assert_eq!(off.expect(200)["activations"], json!([]));
    app.deactivate(&key, "a.example.com").await.expect(200);
    app.activate(&key, "b.example.com").await.expect(200);
    let client = app.get_client(&p.key, c["id"].as_str().unwrap()).await;
    assert_eq!(client.expect(200)["domainCount"], 1);
}

#[tokio::test]
async fn racing_activations_never_pass_max_activations() {
    let app = app();
    let p = app.partner().await;
    let product = app.product().await;
    let c = app.client(&p).await;
    let license = app
        .create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": c["id"], "maxActivations": 3 }))
        .await;
    let key = license.expect(201)["licenseKey"].as_str().unwrap().to_owned();
    let results = join_all((0..10).map(|i| {
        let key = key.clone();
        async move { app.activate(&key, &format!("d{i}.example.com")).await }
    }))
    .await;
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 3);
    for r in results.iter().filter(|r| r.status != 200) {
        r.problem(409, "invalid_transition");
    }
    let client = app.get_client(&p.key, c["id"].as_str().unwrap()).await;
    assert_eq!(client.expect(200)["domainCount"], 3);
}

#[tokio::test]
async fn revoked_and_expired_licenses_refuse_activation_and_change_nothing() {
    let app = app();
    let p = app.partner().await;
    let product = app.product().await;
    let c = app.client(&p).await;
    let cid = c["id"].as_str().unwrap();
    let l = app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": cid, "maxActivations": 5 })).await;
    let (lid, key) = (id(l.expect(201)), l.body["licenseKey"].as_str().unwrap().to_owned());
    app.activate(&key, "x.example.com").await.expect(200);
    let revoked = app.revoke_license(&p.key, &lid).await;
    assert_eq!(revoked.expect(200)["status"], "revoked");
    app.activate(&key, "y.example.com").await.problem(409, "invalid_transition");
    let client = app.get_client(&p.key, cid).await;
    assert_eq!((client.expect(200)["licenseCount"].clone(), client.body["domainCount"].clone()), (json!(0), json!(0)));
    let listed = app.client_licenses(&p.key, cid).await;
    assert_eq!(listed.expect(200)["total"], 1, "the list shows (and counts) revoked licenses too");
    assert_eq!(listed.body["data"][0]["status"], "revoked");

    // Expiry: a license that ends tomorrow, then time moves forward (its end is
    // written a minute into the past, as the trial tests do).
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let l = app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": cid, "expiresAt": tomorrow })).await;
    let (lid, key) = (id(l.expect(201)), l.body["licenseKey"].as_str().unwrap().to_owned());
    assert_eq!(l.body["status"], "active");
    let ended = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    app.dynamodb()
        .await
        .update_item()
        .table_name("clientele")
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("LICENSE#{lid}")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("#".into()))
        .update_expression("SET expiresAt = :e")
        .condition_expression("attribute_exists(expiresAt)")
        .expression_attribute_values(":e", aws_sdk_dynamodb::types::AttributeValue::S(ended))
        .send()
        .await
        .expect("DynamoDB Local answers");
    assert_eq!(app.get_license(&p.key, &lid).await.expect(200)["status"], "expired");
    app.activate(&key, "z.example.com").await.problem(409, "invalid_transition");
    app.activate("lic_unknown", "z.example.com").await.problem(404, "not_found");
    // A key no license can have (empty, longer than the OpenAPI document's 200) is a bad
    // body, named; a domain of any depth is one.
    for bad in [String::new(), "  ".into(), format!("lic_{}", "x".repeat(200))] {
        let res = app.activate(&bad, "z.example.com").await;
        res.problem(400, "validation_failed");
        assert_eq!(res.body["errors"][0]["field"], "licenseKey");
    }
    app.activate("lic_unknown", "a.b.c.d.e.f.g.example.com").await.problem(404, "not_found");
}

#[tokio::test]
async fn licenses_answer_404_outside_the_tree_and_bad_bodies_are_named() {
    let app = app();
    let (p, other) = (app.partner().await, app.partner().await);
    let product = app.product().await;
    let c = app.client(&p).await;
    let l = app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": c["id"] })).await;
    let lid = id(l.expect(201));
    app.get_license(&other.key, &lid).await.problem(404, "not_found");
    app.revoke_license(&other.key, &lid).await.problem(404, "not_found");
    app.client_licenses(&other.key, c["id"].as_str().unwrap()).await.problem(404, "not_found");
    app.create_license(&other.key, json!({ "productId": product["id"], "tier": "t", "clientId": c["id"] })).await.problem(404, "not_found");
    app.create_license(&p.key, json!({ "productId": "0193a000-0000-7000-8000-000000000000", "tier": "t", "clientId": c["id"] }))
        .await
        .problem(404, "not_found");
    let res = app.create_license(&p.key, json!({ "tier": 5, "clientId": c["id"], "expiresAt": "2001-01-01T00:00:00Z", "maxActivations": 0 })).await;
    res.problem(400, "validation_failed");
    assert_eq!(res.error_fields(), ["productId", "tier", "expiresAt", "maxActivations"]);
    let res = app.activate("lic_x", "not a domain").await;
    assert_eq!(res.error_fields(), ["domain"]);
}

#[tokio::test]
async fn licenses_created_while_their_client_is_deleted_end_up_revoked() {
    let app = app();
    let p = app.partner().await;
    let product = app.product().await;
    for _ in 0..3 {
        let c = app.client(&p).await;
        let cid = c["id"].as_str().unwrap().to_owned();
        let mut before = Vec::new();
        for _ in 0..2 {
            let made = app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": cid })).await;
            before.push(made.expect(201)["id"].as_str().unwrap().to_owned());
        }
        // Licenses keep arriving while the delete runs.
        let creates = join_all((0..8).map(|_| app.create_license(&p.key, json!({ "productId": product["id"], "tier": "t", "clientId": cid }))));
        let (created, deleted) = tokio::join!(creates, app.delete_client(&p.key, &cid));
        assert_eq!(deleted.status, 204);
        for id in &before {
            assert_eq!(app.get_license(&p.key, id).await.expect(200)["status"], "revoked", "a license made before the delete");
        }
        for res in &created {
            match res.status {
                201 => {
                    let after = app.get_license(&p.key, res.body["id"].as_str().unwrap()).await;
                    assert_eq!(after.expect(200)["status"], "revoked", "no license stays active on a deleted client");
                }
                _ => {
                    res.problem(404, "not_found");
                }
            }
        }
    }
}

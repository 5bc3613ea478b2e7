// Prints, as one JSON array on stdout, webhook requests signed by each provider's official SDK
// (and, where a provider publishes no signer, by node:crypto following its documentation).
// Every case is also checked with the SDK's own verifier before it is printed.
//
// Case format (docs/webhook-providers.md, "SDK-signed cases"):
//   { "name": string, "sdk": string,          // what signed it
//     "provider": {"kind": ...},               // palisade_webhooks::Provider as JSON
//     "secret": string,                        // as configured on the source
//     "url": string,                           // the URL the provider called (Twilio signs it)
//     "headers": {name: value},                // the signature headers to send
//     "body": string,                          // the raw body (UTF-8)
//     "expect": {"timestamp": int|null, "id": string|null} }  // what verify must report
// Timestamps are the current time, so the cases also pass a server's tolerance window for a
// few minutes after they are printed.
//
// Usage: node sign.mjs [BASE]. Each case's URL is BASE + the case's name (Twilio's with a query
// string); BASE defaults to https://example.com/hooks/. A server test passes its public base URL
// and ingress path (https://hooks.example.test/hooks/<tenant>/) and posts each case to the
// source named like the case.
import { createHmac, generateKeyPairSync, randomBytes, sign as edSign } from "node:crypto";
import { readFileSync } from "node:fs";
import Stripe from "stripe";
import { sign as ghSign, verify as ghVerify } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import twilio from "twilio";

const here = new URL(".", import.meta.url);
const base = process.argv[2] ?? "https://example.com/hooks/";
const urlOf = (name) => `${base}${name}`;
const version = (pkg) => `${pkg}@${JSON.parse(readFileSync(new URL(`node_modules/${pkg}/package.json`, here))).version}`;
const now = Math.floor(Date.now() / 1000);
const rand = (n) => randomBytes(n).toString("hex");
const cases = [];
const check = (ok, name) => {
  if (!ok) throw new Error(`the SDK refuses its own case ${name}`);
};

// --- Stripe: generateTestHeaderString, checked with constructEvent -----------------------
{
  const stripe = new Stripe("sk_test_unused");
  const sdk = `${version("stripe")} webhooks.generateTestHeaderString`;
  const secret = `whsec_${rand(16)}`;
  const old = `whsec_${rand(16)}`;
  const id = `evt_${rand(12)}`;
  const body = JSON.stringify({ id, object: "event", type: "payment_intent.succeeded", data: { object: { id: `pi_${rand(8)}`, amount: 2000 } } }, null, 2);
  const header = stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp: now });
  check(stripe.webhooks.constructEvent(body, header, secret).id === id, "stripe");
  cases.push({ name: "stripe", sdk, provider: { kind: "stripe" }, secret, url: urlOf("stripe"), headers: { "Stripe-Signature": header }, body, expect: { timestamp: now, id } });
  // A secret roll: Stripe signs with both secrets, one `v1` each, in one header.
  const second = stripe.webhooks.generateTestHeaderString({ payload: body, secret: old, timestamp: now });
  const both = `${second},${header.split(",").find((p) => p.startsWith("v1="))}`;
  check(stripe.webhooks.constructEvent(body, both, secret).id === id, "stripe-roll");
  cases.push({ name: "stripe-two-signatures", sdk, provider: { kind: "stripe" }, secret, url: urlOf("stripe-two-signatures"), headers: { "Stripe-Signature": both }, body, expect: { timestamp: now, id } });
}

// --- GitHub: @octokit/webhooks-methods sign, checked with verify ------------------------
{
  const sdk = `${version("@octokit/webhooks-methods")} sign`;
  const secret = `gh-${rand(16)}`;
  const body = JSON.stringify({ action: "opened", number: 7, repository: { full_name: "acme/widgets" }, note: "héllo ✓" });
  const sig = await ghSign(secret, body);
  check(await ghVerify(secret, body, sig), "github");
  cases.push({ name: "github", sdk, provider: { kind: "github" }, secret, url: urlOf("github"), headers: { "X-Hub-Signature-256": sig, "X-GitHub-Delivery": crypto.randomUUID(), "X-GitHub-Event": "pull_request" }, body, expect: { timestamp: null, id: null } });
}

// --- Standard Webhooks: standardwebhooks' Webhook.sign, checked with verify ----------------
{
  const sdk = `${version("standardwebhooks")} Webhook.sign`;
  const secret = `whsec_${randomBytes(32).toString("base64")}`;
  const old = `whsec_${randomBytes(24).toString("base64")}`;
  const id = `msg_${rand(12)}`;
  const body = JSON.stringify({ type: "contact.created", timestamp: new Date(now * 1000).toISOString(), data: { id: rand(8) } });
  const date = new Date(now * 1000);
  const sig = new Webhook(secret).sign(id, date, body);
  const headers = { "webhook-id": id, "webhook-timestamp": String(now), "webhook-signature": sig };
  new Webhook(secret).verify(body, headers);
  cases.push({ name: "standard-webhooks", sdk, provider: { kind: "standard_webhooks" }, secret, url: urlOf("standard-webhooks"), headers, body, expect: { timestamp: now, id } });
  // Rotation: the sender signs with the old and the new secret; several entries in one header.
  const both = `${new Webhook(old).sign(id, date, body)} ${sig}`;
  const rotated = { ...headers, "webhook-signature": both };
  new Webhook(secret).verify(body, rotated);
  cases.push({ name: "standard-webhooks-two-signatures", sdk, provider: { kind: "standard_webhooks" }, secret, url: urlOf("standard-webhooks-two-signatures"), headers: rotated, body, expect: { timestamp: now, id } });
  // v1a (ed25519): the JavaScript library has no asymmetric signer; node:crypto signs as the spec says.
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "jwk" }).x; // base64url of the 32-byte key
  const whpk = `whpk_${Buffer.from(raw, "base64url").toString("base64")}`;
  const v1a = edSign(null, Buffer.from(`${id}.${now}.${body}`), privateKey).toString("base64");
  cases.push({ name: "standard-webhooks-v1a", sdk: `node:crypto ed25519 (${process.version})`, provider: { kind: "standard_webhooks" }, secret: whpk, url: urlOf("standard-webhooks-v1a"), headers: { ...headers, "webhook-signature": `${sig} v1a,${v1a}` }, body, expect: { timestamp: now, id } });
}

// --- Twilio: getExpectedTwilioSignature, checked with validateRequest / validateRequestWithBody
{
  const sdk = `${version("twilio")} getExpectedTwilioSignature`;
  const token = rand(16);
  const twUrl = (name) => `${urlOf(name)}?source=sms`;
  const url = twUrl("twilio-form");
  const params = { MessageSid: `SM${rand(16)}`, AccountSid: `AC${rand(16)}`, From: "+14158675309", To: "+18005551212", Body: "Hello + goodbye & ünïcode ✓", NumMedia: "0" };
  const body = new URLSearchParams(params).toString();
  const form = { "Content-Type": "application/x-www-form-urlencoded" };
  const sig = twilio.getExpectedTwilioSignature(token, url, params);
  check(twilio.validateRequest(token, sig, url, params), "twilio");
  cases.push({ name: "twilio-form", sdk, provider: { kind: "twilio" }, secret: token, url, headers: { ...form, "X-Twilio-Signature": sig }, body, expect: { timestamp: null, id: null } });
  // Signed with the default port that the configured URL leaves out.
  const portUrl = twUrl("twilio-default-port");
  const withPort = portUrl.replace(/^(https:\/\/[^/:]+)/, "$1:443");
  const portSig = twilio.getExpectedTwilioSignature(token, withPort, params);
  check(twilio.validateRequest(token, portSig, portUrl, params), "twilio-port");
  cases.push({ name: "twilio-default-port", sdk, provider: { kind: "twilio" }, secret: token, url: portUrl, headers: { ...form, "X-Twilio-Signature": portSig }, body, expect: { timestamp: null, id: null } });
  // JSON body: the URL carries bodySHA256 and is signed alone.
  const json = JSON.stringify({ event: "call.completed", sid: `CA${rand(16)}` });
  const jsonUrl = `${twUrl("twilio-json-body")}&bodySHA256=${twilio.getExpectedBodyHash(json)}`;
  const jsonSig = twilio.getExpectedTwilioSignature(token, jsonUrl, {});
  check(twilio.validateRequestWithBody(token, jsonSig, jsonUrl, json), "twilio-json");
  cases.push({ name: "twilio-json-body", sdk, provider: { kind: "twilio" }, secret: token, url: jsonUrl, headers: { "Content-Type": "application/json", "X-Twilio-Signature": jsonSig }, body: json, expect: { timestamp: null, id: null } });
  // SharedKey webhooks: HMAC-SHA256, named by the settings header.
  const shared = rand(24);
  const settings = `key=webhooks_sharedkey_${rand(8)},algorithm=HMAC_SHA256`;
  const alg = twilio.getSignatureAlgorithm(settings);
  const sharedUrl = twUrl("twilio-shared-key-sha256");
  const sharedSig = twilio.getExpectedTwilioSignature(shared, sharedUrl, params, alg);
  check(twilio.validateRequest(shared, sharedSig, sharedUrl, params, alg), "twilio-sha256");
  cases.push({ name: "twilio-shared-key-sha256", sdk, provider: { kind: "twilio" }, secret: shared, url: sharedUrl, headers: { ...form, "X-Twilio-Signature": sharedSig, "X-Twilio-Webhooks-Signature-Settings": settings }, body, expect: { timestamp: null, id: null } });
}

// --- Shopify and Slack publish no signer: node:crypto, as their documentation says ---------
{
  const sdk = `node:crypto HMAC (${process.version}), per the provider's documentation`;
  const shop = `shpss_${rand(16)}`;
  const body = JSON.stringify({ id: 820982911946154500, email: "jon@example.com", total_price: "199.00" });
  const hmac = createHmac("sha256", shop).update(body, "utf8").digest("base64");
  cases.push({ name: "shopify", sdk, provider: { kind: "shopify" }, secret: shop, url: urlOf("shopify"), headers: { "X-Shopify-Hmac-Sha256": hmac, "X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": crypto.randomUUID() }, body, expect: { timestamp: null, id: null } });

  const slack = rand(16);
  const eventId = `Ev${rand(5).toUpperCase()}`;
  const event = JSON.stringify({ token: "unused", team_id: "T1", type: "event_callback", event_id: eventId, event: { type: "app_mention", text: "hi" } });
  const sig = `v0=${createHmac("sha256", slack).update(`v0:${now}:${event}`).digest("hex")}`;
  cases.push({ name: "slack-event", sdk, provider: { kind: "slack" }, secret: slack, url: urlOf("slack-event"), headers: { "X-Slack-Signature": sig, "X-Slack-Request-Timestamp": String(now) }, body: event, expect: { timestamp: now, id: eventId } });
  const command = "token=unused&team_id=T1&command=%2Fdeploy&text=prod+now&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1";
  const csig = `v0=${createHmac("sha256", slack).update(`v0:${now}:${command}`).digest("hex")}`;
  cases.push({ name: "slack-command", sdk, provider: { kind: "slack" }, secret: slack, url: urlOf("slack-command"), headers: { "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Signature": csig, "X-Slack-Request-Timestamp": String(now) }, body: command, expect: { timestamp: now, id: null } });

  // The generic HMAC scheme: SHA-512, base64, a prefix, a timestamp and an id in the template.
  const key = rand(32);
  const id = `del_${rand(8)}`;
  const payload = JSON.stringify({ kind: "invoice.paid", amount: 42 });
  const mac = createHmac("sha512", key).update(`${id}:${now}:${payload}`).digest("base64");
  const provider = { kind: "hmac", header: "X-Acme-Signature", algorithm: "sha512", encoding: "base64", prefix: "sha512=", timestamp_header: "X-Acme-Timestamp", id_header: "X-Acme-Delivery", template: "{id}:{timestamp}:{body}" };
  cases.push({ name: "hmac-generic", sdk, provider, secret: key, url: urlOf("hmac-generic"), headers: { "X-Acme-Signature": `sha512=${mac}`, "X-Acme-Timestamp": String(now), "X-Acme-Delivery": id }, body: payload, expect: { timestamp: now, id } });
}

process.stdout.write(`${JSON.stringify(cases, null, 2)}\n`);

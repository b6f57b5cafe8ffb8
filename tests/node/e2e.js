// twilio-node (the official Node helper library) against a real mediagate.
// Driven by tests/e2e/test_node_client.py, which passes BASE, SID, TOKEN,
// KEY_SID, KEY_SECRET, MEDIA_URL and TWILIO_PACKAGE ("twilio": v6, what
// `npm install twilio` installs; "twilio5": v5 through an npm alias, see
// package.json) and checks the JSON printed on stdout.
"use strict";
const crypto = require("node:crypto");

const { BASE, SID, TOKEN, KEY_SID, KEY_SECRET, MEDIA_URL, TWILIO_PACKAGE } = process.env;
const twilio = require(TWILIO_PACKAGE || "twilio");

function pointed(client) {
  // v2010 (messages, media) lives on the "api" domain; accounts v1 (token
  // rotation) on "accounts". Leave TWILIO_EDGE/TWILIO_REGION unset.
  client.api.baseUrl = BASE;
  client.accounts.baseUrl = BASE;
  return client;
}

function eachSid(list, pageSize) {
  return new Promise((resolve, reject) => {
    const sids = [];
    list.each({
      pageSize,
      callback: (item) => sids.push(item.sid),
      done: (err) => (err ? reject(err) : resolve(sids)),
    });
  });
}

async function download(url, auth, redirect) {
  const headers = auth ? { Authorization: "Basic " + Buffer.from(auth).toString("base64") } : {};
  const r = await fetch(url, { headers, redirect });
  const body = Buffer.from(await r.arrayBuffer());
  return {
    status: r.status,
    location: r.headers.get("location"),
    type: r.headers.get("content-type"),
    url: r.url,
    sha256: crypto.createHash("sha256").update(body).digest("hex"),
    text: body.length < 2000 ? body.toString("utf8") : "",
  };
}

async function waitForStatus(client, sid, status) {
  for (let i = 0; i < 100; i++) {
    const m = await client.messages(sid).fetch();
    if (m.status === status) return m;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`message ${sid} never became ${status}`);
}

async function main() {
  const client = pointed(twilio(SID, TOKEN));
  const out = { version: require(`${TWILIO_PACKAGE || "twilio"}/package.json`).version };
  const msg = await client.messages.create({
    to: "+15551230001",
    from: "+15557650001",
    body: "hello from node",
    mediaUrl: [MEDIA_URL],
  });
  out.created = { sid: msg.sid, numMedia: msg.numMedia, accountSid: msg.accountSid, status: msg.status };
  for (let i = 0; i < 3; i++) {
    await client.messages.create({ to: "+15551230001", from: "+15557650001", body: `page filler ${i}` });
  }
  out.listed = (await client.messages.list({ limit: 50 })).map((m) => m.sid);
  out.eachPaged = await eachSid(client.messages, 2);
  out.fetched = (await client.messages(msg.sid).fetch()).body;

  // As on Twilio, the create answers `queued` and the media are fetched afterwards:
  // wait until the message has settled (numMedia set, or no longer queued).
  let settled = await client.messages(msg.sid).fetch();
  for (let i = 0; i < 600 && settled.numMedia === "0" && settled.status === "queued"; i++) {
    await new Promise((r) => setTimeout(r, 50));
    settled = await client.messages(msg.sid).fetch();
  }
  out.settled = { numMedia: settled.numMedia, status: settled.status };
  const media = await client.messages(msg.sid).media.list();
  out.media = media.map((m) => ({ sid: m.sid, contentType: m.contentType, parentSid: m.parentSid }));
  const mediaSid = media[0].sid;
  out.mediaFetched = (await client.messages(msg.sid).media(mediaSid).fetch()).sid;

  const keyClient = pointed(twilio(KEY_SID, KEY_SECRET, { accountSid: SID }));
  out.keyClientMedia = (await keyClient.messages(msg.sid).media.list()).map((m) => m.sid);

  const content = `${BASE}/2010-04-01/Accounts/${SID}/Messages/${msg.sid}/Media/${mediaSid}`;
  out.redirect = await download(content, `${SID}:${TOKEN}`, "manual");
  out.followed = await download(content, `${SID}:${TOKEN}`, "follow");
  out.followedWithKey = await download(content, `${KEY_SID}:${KEY_SECRET}`, "follow");
  out.anonymous = await download(content, null, "manual");

  out.removed = await client.messages(msg.sid).media(mediaSid).remove();
  try {
    await client.messages(msg.sid).media(mediaSid).fetch();
    out.afterRemove = "still there";
  } catch (err) {
    out.afterRemove = { status: err.status, code: err.code, message: err.message };
  }

  // UpdateMessage: redact a sent message's body, unmodified client code.
  const secret = await client.messages.create({ to: "+15551230001", from: "+15557650001", body: "code 123456" });
  await waitForStatus(client, secret.sid, "sent");
  const redacted = await client.messages(secret.sid).update({ body: "" });
  out.redacted = { sid: redacted.sid, body: redacted.body, status: redacted.status };
  out.redactedFetched = (await client.messages(secret.sid).fetch()).body;
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n${JSON.stringify(err)}\n`);
  process.exit(1);
});

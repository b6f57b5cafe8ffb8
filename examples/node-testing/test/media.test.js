// The pain points of Twilio media code, each reproduced on purpose against mediagate in test
// mode (docs/testing.md walks through them): the 401 when auth is left out, the redirect hop,
// the transient 404 and empty media list right after the webhook, the stored URL that expires
// hours later, and Twilio's test credentials.
import { createServer } from "node:http";
import { afterAll, afterEach, beforeAll, describe, expect, inject, test } from "vitest";
import { Mediagate, basic, contentUrl, downloadMedia, mediaOf, settledMessage } from "./mediagate.js";

const mg = new Mediagate(inject("mediagateUrl"));

// A 1x1 PNG, served from this process as the MediaUrl of the messages below.
const PICTURE = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
  "base64",
);
let pictures;
let pictureUrl;

beforeAll(async () => {
  pictures = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "image/png", "Content-Length": PICTURE.length });
    res.end(PICTURE);
  });
  await new Promise((done) => pictures.listen(0, "127.0.0.1", done));
  pictureUrl = `http://127.0.0.1:${pictures.address().port}/cat.png`;
});

afterAll(async () => {
  await new Promise((done) => pictures.close(done));
});

afterEach(async () => {
  await mg.clearFaults();
});

async function sendPicture(account) {
  const message = await account.client.messages.create({
    to: "+15551230001",
    from: "+15557650001",
    mediaUrl: [pictureUrl],
  });
  // The picture is fetched after the create answers (as at Twilio): wait for that first.
  const settled = await settledMessage(account.client, message.sid);
  expect(settled.numMedia, `the picture was not stored: ${settled.status} ${settled.errorCode}`).toBe("1");
  const [media] = await mediaOf(account.client, message.sid);
  expect(media, "the message's media never appeared").toBeDefined();
  return { message, media, url: contentUrl(mg.baseUrl, media) };
}

describe("downloading media the way Twilio serves it", () => {
  test("without credentials the media URL answers 401, as when a tutorial leaves auth out", async () => {
    const account = await mg.newAccount();
    const { url } = await sendPicture(account);

    const anonymous = await fetch(url, { redirect: "manual" });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe('Basic realm="Twilio API"');
    expect((await anonymous.json()).code).toBe(20003);

    const got = await downloadMedia(url, account.sid, account.authToken);
    expect(got.contentType).toBe("image/png");
    expect(got.bytes.equals(PICTURE)).toBe(true);
  });

  test("the redirect hop: credentials on the API hop only, and a client must follow it", async () => {
    const account = await mg.newAccount();
    const { url } = await sendPicture(account);
    const auth = { Authorization: basic(account.sid, account.authToken) };

    // A client that refuses redirects breaks every download.
    await expect(fetch(url, { headers: auth, redirect: "error" })).rejects.toThrow();

    const hop = await fetch(url, { headers: auth, redirect: "manual" });
    expect(hop.status).toBe(307);
    const signed = new URL(hop.headers.get("location"));
    expect(signed.searchParams.get("Signature")).toBeTruthy();
    expect(signed.pathname).not.toBe(new URL(url).pathname);

    // The signed URL needs no credentials. mediagate ignores credentials resent across the
    // hop; S3 behind Twilio's CDN answers 400 to them, so production code must not send them.
    const plain = await fetch(signed);
    expect(plain.status).toBe(200);
    const resent = await fetch(signed, { headers: auth });
    expect(resent.status).toBe(200);

    // Twilio has answered 302 as well as 307: code that only accepts one breaks.
    await mg.fault("content", "redirect-302", { AccountSid: account.sid });
    const old = await fetch(url, { headers: auth, redirect: "manual" });
    expect(old.status).toBe(302);
  });

  test("a 404 or an empty media list right after the webhook: retry after a pause", async () => {
    const account = await mg.newAccount();
    const { message, url } = await sendPicture(account);

    const missing = await mg.fault("content", "status", { Status: 404, AccountSid: account.sid });
    const got = await downloadMedia(url, account.sid, account.authToken, { pauseMs: 1000 });
    expect(got.attempts).toBe(2);
    expect(got.bytes.equals(PICTURE)).toBe(true);

    await mg.fault("media-list", "empty-list", { AccountSid: account.sid });
    expect(await account.client.messages(message.sid).media.list()).toEqual([]);
    expect(await mediaOf(account.client, message.sid, { pauseMs: 1000 })).toHaveLength(1);

    // The journal tells what happened, with the fault that applied.
    const entries = await mg.journal({ AccountSid: account.sid });
    const faulted = entries.find((e) => e.fault === missing.sid);
    expect(faulted).toMatchObject({ kind: "content", status: 404 });
    expect(JSON.stringify(entries)).not.toContain(account.authToken);
  });

  test("a stored media URL expires after 4 hours: ask the media URL again", async () => {
    const account = await mg.newAccount();
    const { url } = await sendPicture(account);
    const first = await downloadMedia(url, account.sid, account.authToken);

    const clock = await mg.advanceClock(14401);
    expect(clock.offset_seconds).toBeGreaterThanOrEqual(14401);
    const stale = await fetch(first.signedUrl);
    expect(stale.status).toBe(403);
    expect((await stale.json()).reason).toBe("expired");

    const again = await downloadMedia(url, account.sid, account.authToken);
    expect(again.signedUrl).not.toBe(first.signedUrl);
    expect(again.bytes.equals(PICTURE)).toBe(true);
  });
});

describe("Twilio's test credentials", () => {
  test("magic numbers on Messages, 403 / 20008 everywhere else", async () => {
    const account = await mg.newAccount();
    const sent = await account.testClient.messages.create({
      from: "+15005550006",
      to: "+14155550100",
      body: "nothing is sent",
    });
    expect(sent.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect(sent.accountSid).toBe(account.testSid);

    await expect(
      account.testClient.messages.create({ from: "+15005550006", to: "+15005550001", body: "x" }),
    ).rejects.toMatchObject({ status: 400, code: 21211 });
    await expect(
      account.testClient.messages.create({ from: "+15005550008", to: "+14155550100", body: "x" }),
    ).rejects.toMatchObject({ status: 400, code: 21611 });
    await expect(account.testClient.messages(sent.sid).fetch()).rejects.toMatchObject({
      status: 403,
      code: 20008,
    });
    // Nothing was stored under the live account.
    expect(await account.client.messages.list()).toEqual([]);
  });
});

describe("reset", () => {
  test("removes every account and sets the clock back", async () => {
    const account = await mg.newAccount();
    await mg.advanceClock(60);
    const clock = await mg.reset();
    expect(clock.offset_seconds).toBe(0);
    await expect(account.client.messages.list()).rejects.toMatchObject({ status: 401 });
  });
});

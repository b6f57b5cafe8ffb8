// A small client for mediagate's test-mode control API (/v1/Testing/*) and the two things
// every media test needs: a fresh account with a twilio-node client pointed at the server,
// and a download that behaves like production code should (credentials on the API hop
// only, the redirect followed, a transient 404 retried).
import twilio from "twilio";

export class Mediagate {
  constructor(baseUrl, testModeToken = process.env.MEDIAGATE_TEST_MODE_TOKEN) {
    this.baseUrl = baseUrl;
    this.headers = testModeToken ? { Authorization: `Bearer ${testModeToken}` } : {};
  }

  async control(method, path, form) {
    const init = { method, headers: { ...this.headers } };
    if (form) {
      init.body = new URLSearchParams(form);
    }
    const r = await fetch(`${this.baseUrl}/v1/Testing${path}`, init);
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} /v1/Testing${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  clock() {
    return this.control("GET", "/Clock");
  }

  advanceClock(seconds) {
    return this.control("POST", "/Clock", { AdvanceSeconds: String(seconds) });
  }

  // target: content | secure | public | media-list | media-fetch | webhook
  // action: status (Status) | delay (DelayMs) | truncate | redirect-302 | empty-list
  fault(target, action, params = {}) {
    const form = { Target: target, Action: action };
    for (const [name, value] of Object.entries(params)) form[name] = String(value);
    return this.control("POST", "/Faults", form);
  }

  clearFaults() {
    return this.control("DELETE", "/Faults");
  }

  async journal(filters = {}) {
    const query = new URLSearchParams(filters).toString();
    const page = await this.control("GET", `/Journal${query ? `?${query}` : ""}`);
    return page.journal;
  }

  reset() {
    return this.control("POST", "/Reset");
  }

  // A fresh account: its live credentials, Twilio's test credentials, and a twilio-node
  // client on this server (each domain has a plain baseUrl; leave TWILIO_EDGE/REGION unset).
  async newAccount(name = "node test") {
    const made = await this.control("POST", "/Accounts", { FriendlyName: name });
    if (!made.test_account_sid || !made.test_auth_token) {
      throw new Error("POST /v1/Testing/Accounts must return test_account_sid and test_auth_token");
    }
    return {
      sid: made.sid,
      authToken: made.auth_token,
      testSid: made.test_account_sid,
      testToken: made.test_auth_token,
      client: this.client(made.sid, made.auth_token),
      testClient: this.client(made.test_account_sid, made.test_auth_token),
    };
  }

  client(username, password) {
    const client = twilio(username, password);
    client.api.baseUrl = this.baseUrl;
    return client;
  }
}

export function basic(username, password) {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

// The content URL of a media resource (its uri without ".json"), as the webhook's MediaUrl{N}.
export function contentUrl(baseUrl, media) {
  return baseUrl + media.uri.replace(/\.json$/, "");
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// How production code should download Twilio media: Basic auth on the API hop only,
// the 307 to the signed host followed by hand without credentials, and a 404 right
// after the webhook retried after a pause (Twilio's support article: 1 to 3 s).
export async function downloadMedia(url, sid, token, { retries = 3, pauseMs = 1000 } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    const hop = await fetch(url, { headers: { Authorization: basic(sid, token) }, redirect: "manual" });
    if (hop.status === 404 && attempt < retries) {
      await sleep(pauseMs);
      continue;
    }
    if (hop.status !== 302 && hop.status !== 307) {
      throw new Error(`media ${url}: ${hop.status} ${await hop.text()}`);
    }
    const signed = hop.headers.get("location");
    const file = await fetch(signed); // no Authorization: the signed URL is the credential
    if (!file.ok) throw new Error(`signed media URL: ${file.status} ${await file.text()}`);
    return {
      attempts: attempt + 1,
      signedUrl: signed,
      contentType: file.headers.get("content-type"),
      bytes: Buffer.from(await file.arrayBuffer()),
    };
  }
}

// The message once its media fetch is over. Creating a message with a MediaUrl answers
// "queued" with numMedia "0" at once, as Twilio does, and the media are fetched afterwards:
// the media list stays empty until they are stored (numMedia becomes their count then), and
// a fetch that fails moves the message to "failed" with an errorCode. Poll the message until
// numMedia is set or its status leaves "queued"; give up after timeoutMs.
export async function settledMessage(client, messageSid, { timeoutMs = 60000, pauseMs = 100 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const message = await client.messages(messageSid).fetch();
    if (message.status !== "queued" || message.numMedia !== "0") return message;
    if (Date.now() > deadline) {
      throw new Error(`message ${messageSid} still queued after ${timeoutMs} ms`);
    }
    await sleep(pauseMs);
  }
}

// The media list right after the webhook of a message whose media are stored can still be
// empty for a moment: ask again after a pause, as for the 404.
export async function mediaOf(client, messageSid, { tries = 5, pauseMs = 1000 } = {}) {
  for (let attempt = 1; ; attempt += 1) {
    const media = await client.messages(messageSid).media.list();
    if (media.length > 0 || attempt >= tries) return media;
    await sleep(pauseMs);
  }
}

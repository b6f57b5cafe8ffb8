// Vitest global set-up: a mediagate server in test mode for the whole run.
//
// With MEDIAGATE_URL set, that server is used as it is (it must run with --test-mode; set
// MEDIAGATE_TEST_MODE_TOKEN too if it needs one). Otherwise `mediagate serve --test-mode`
// (MEDIAGATE_BIN, default `mediagate` on PATH) is started on a free loopback port with a
// data folder of its own, and stopped afterwards. MediaUrl may point at loopback (the
// tests serve their pictures from this process), which only a test server should allow.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function waitUntilUp(url, child, deadlineMs) {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`mediagate exited with ${child.exitCode}`);
    try {
      const r = await fetch(`${url}/healthz`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 200));
  }
  throw new Error(`mediagate did not answer ${url}/healthz in ${deadlineMs} ms`);
}

export default async function setup({ provide }) {
  if (process.env.MEDIAGATE_URL) {
    provide("mediagateUrl", process.env.MEDIAGATE_URL.replace(/\/$/, ""));
    return undefined;
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), "mediagate-node-"));
  let log = "";
  const child = spawn(
    process.env.MEDIAGATE_BIN || "mediagate",
    ["serve", "--test-mode", "--host", "127.0.0.1", "--port", String(port)],
    {
      env: {
        ...process.env,
        MEDIAGATE_DATA_DIR: dataDir,
        MEDIAGATE_PUBLIC_URL: url,
        MEDIAGATE_ALLOW_PRIVATE_MEDIA_URLS: "true",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stdout.on("data", (chunk) => (log += chunk));
  child.stderr.on("data", (chunk) => (log += chunk));
  try {
    await waitUntilUp(url, child, 90_000);
  } catch (error) {
    child.kill("SIGTERM");
    throw new Error(`${error.message}\n${log}`);
  }
  provide("mediagateUrl", url);
  return async () => {
    child.kill("SIGTERM");
    await new Promise((done) => (child.exitCode !== null ? done() : child.once("exit", done)));
    rmSync(dataDir, { recursive: true, force: true });
  };
}

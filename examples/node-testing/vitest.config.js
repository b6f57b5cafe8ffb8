import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // One mediagate server for the run (started here unless MEDIAGATE_URL names one).
    globalSetup: ["./test/server.js"],
    // The tests share that server, and one of them resets it: one file at a time.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});

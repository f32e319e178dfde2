// A Node iii-sdk 0.9.0 worker driven over stdin/stdout by tests/kernel/test_sdk_interop.py.
// argv: <path of iii-sdk's dist/index.mjs> <engine url>
// It registers node::add, node::fail and node::exit, prints {"ready": worker id}, then runs one
// call per stdin line ({"id", "function_id", "payload"}) and prints {"id", "result"} or {"id", "error"}.
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

const [sdkPath, url] = process.argv.slice(2);
const { registerWorker } = await import(pathToFileURL(sdkPath).href);
const iii = registerWorker(url, { invocationTimeoutMs: 10000, enableMetricsReporting: false, otel: { enabled: false } });

const print = (message) => process.stdout.write(JSON.stringify(message) + "\n");

iii.registerFunction({ id: "node::add" }, async (data) => ({ sum: data.a + data.b, caller: data._caller_worker_id }));
iii.registerFunction({ id: "node::fail" }, async () => {
  throw new Error("node says no");
});
iii.registerFunction({ id: "node::exit" }, async () => {
  setTimeout(() => process.exit(3), 50);
  return new Promise(() => {});
});

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  const { id, function_id, payload } = JSON.parse(line);
  try {
    print({ id, result: (await iii.trigger({ function_id, payload })) ?? null });
  } catch (error) {
    print({ id, error: error instanceof Error ? { message: error.message } : error });
  }
});
lines.on("close", () => process.exit(0));

const waitForId = setInterval(async () => {
  const functions = await iii.listFunctions().catch(() => []);
  if (functions.some((f) => f.function_id === "node::exit")) {
    clearInterval(waitForId);
    print({ ready: true });
  }
}, 50);

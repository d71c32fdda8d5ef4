// Drives modelhub with the official JS client (@huggingface/hub) through its `hubUrl` option:
// create a repo, upload generated files in one commit, list them, download every file (whole and a
// byte range) and compare SHA-256s with the local copies. Prints one JSON document on stdout and
// exits 0 when the script ran to the end (the pytest side asserts on the JSON), 1 when a client call
// threw (the JSON then carries the error and the last HTTP requests, to find the failing one).
//
// Usage: MODELHUB_TOKEN=hf_... node roundtrip.mjs --endpoint URL --repo ns/name --workdir DIR
//          [--xet true|false] [--large-mb 30] [--repeated-mb 12]
//   --xet false: commit with useXet:false (LFS batch transfers [basic, multipart]) and download with xet:false.
//   --xet true:  the client's default: offers "xet" in the LFS batch call and downloads through Xet when
//                GET /resolve answers Content-Type application/vnd.xet-fileinfo+json.
//
// Every request the client makes goes through a logging fetch, so the JSON shows which routes it used.

import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, open, stat } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

import { createRepo, downloadFile, fileDownloadInfo, listFiles, uploadFiles } from "@huggingface/hub";

const { values: opts } = parseArgs({
  options: {
    endpoint: { type: "string" },
    repo: { type: "string" },
    workdir: { type: "string" },
    xet: { type: "string", default: "false" },
    "large-mb": { type: "string", default: "30" },
    "repeated-mb": { type: "string", default: "12" },
  },
});
for (const k of ["endpoint", "repo", "workdir"]) {
  if (!opts[k]) {
    console.error(`missing --${k}`);
    process.exit(2);
  }
}
const hubUrl = opts.endpoint.replace(/\/+$/, "");
const accessToken = process.env.MODELHUB_TOKEN;
if (!accessToken) {
  console.error("MODELHUB_TOKEN is not set");
  process.exit(2);
}
const useXet = opts.xet === "true";
const MiB = 1 << 20;

// ---- request log ------------------------------------------------------------------------------------
const requests = [];
let lfsBatch = null; // what the LFS batch call sent and got back (first call)

function bodySize(body) {
  if (body == null) return 0;
  if (typeof body === "string") return Buffer.byteLength(body);
  if (body instanceof ArrayBuffer) return body.byteLength;
  if (ArrayBuffer.isView(body)) return body.byteLength;
  if (typeof Blob !== "undefined" && body instanceof Blob) return body.size;
  return -1; // a stream: size unknown
}

function headerValue(headers, name) {
  if (!headers) return undefined;
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name.toLowerCase()) return v;
  return undefined;
}

async function loggingFetch(input, init = {}) {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  const method = (init.method ?? (input instanceof Request ? input.method : "GET")).toUpperCase();
  const entry = { method, url, range: headerValue(init.headers, "Range"), bytesSent: bodySize(init.body) };
  requests.push(entry);
  let res;
  try {
    res = await fetch(input, init);
  } catch (e) {
    entry.error = String(e?.cause ?? e);
    throw e;
  }
  entry.status = res.status;
  entry.contentType = res.headers.get("content-type") ?? undefined;
  if (url.endsWith("/info/lfs/objects/batch") && lfsBatch === null) {
    lfsBatch = { status: res.status };
    try {
      lfsBatch.request = typeof init.body === "string" ? JSON.parse(init.body) : null;
      lfsBatch.response = await res.clone().json();
    } catch (e) {
      lfsBatch.parseError = String(e);
    }
  }
  return res;
}

// ---- test data --------------------------------------------------------------------------------------
async function writeFile(path, size, nextBlock) {
  const hash = createHash("sha256");
  const out = createWriteStream(path);
  let left = size;
  while (left > 0) {
    const block = nextBlock(Math.min(left, MiB));
    hash.update(block);
    if (!out.write(block)) await new Promise((r) => out.once("drain", r));
    left -= block.length;
  }
  await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())));
  return hash.digest("hex");
}

async function makeFiles(dir) {
  await mkdir(join(dir, "nested", "deeper"), { recursive: true });
  const largeBytes = Math.round(Number(opts["large-mb"]) * MiB);
  const repeatedBytes = Math.round(Number(opts["repeated-mb"]) * MiB);
  const unit = randomBytes(MiB); // the repeated file is this 1 MiB block again and again
  const specs = [
    // [repo path, size, block generator]
    ["README.md", null, () => Buffer.from(`# js client test\n\nrandom tag ${randomBytes(8).toString("hex")}\n`)],
    ["config.json", null, () => Buffer.from(JSON.stringify({ tag: randomBytes(8).toString("hex"), layers: 3 }))],
    ["nested/deeper/notes.txt", null, () => Buffer.from("line\n".repeat(200) + randomBytes(4).toString("hex"))],
    ["small.bin", 4096, (n) => randomBytes(n)], // *.bin: LFS through .gitattributes although tiny
    ["large.bin", largeBytes, (n) => randomBytes(n)],
    ["repeated.bin", repeatedBytes, (n) => unit.subarray(0, n)],
  ];
  const files = [];
  for (const [path, size, gen] of specs) {
    const local = join(dir, path);
    let sha;
    if (size === null) {
      const content = gen();
      sha = await writeFile(local, content.length, () => content);
    } else {
      sha = await writeFile(local, size, gen);
    }
    files.push({ path, local, size: (await stat(local)).size, sha256: sha });
  }
  return files;
}

// ---- helpers ----------------------------------------------------------------------------------------
async function sha256OfBlob(blob) {
  const hash = createHash("sha256");
  let n = 0;
  for await (const chunk of blob.stream()) {
    hash.update(chunk);
    n += chunk.byteLength;
  }
  return { sha256: hash.digest("hex"), bytes: n };
}

async function readLocal(path, start, end) {
  const fh = await open(path, "r");
  try {
    const buf = Buffer.alloc(end - start);
    await fh.read(buf, 0, buf.length, start);
    return buf;
  } finally {
    await fh.close();
  }
}

function routeOf(method, url) {
  if (method === "PUT") return "lfs:upload href"; // basic PUT or a multipart part: signed URLs, shape is the server's
  const u = new URL(url);
  const p = u.pathname;
  const rules = [
    [/\/v1\/xorbs\//, "cas:POST xorb"],
    [/\/v1\/shards$/, "cas:shards v1"],
    [/\/v2\/shards$/, "cas:shards v2"],
    [/\/v1\/chunks\//, "cas:chunks (dedup query)"],
    [/\/v1\/reconstructions\//, "cas:reconstructions v1"],
    [/\/v2\/reconstructions\//, "cas:reconstructions v2"],
    [/\/xet-write-token\//, "hub:xet-write-token"],
    [/\/xet-read-token\//, "hub:xet-read-token"],
    [/\/info\/lfs\/objects\/batch$/, "lfs:batch"],
    [/\/api\/repos\/create$/, "hub:create"],
    [/\/preupload\//, "hub:preupload"],
    [/\/commit\//, "hub:commit"],
    [/\/api\/[a-z]+s\/.*\/tree\//, "hub:tree"],
    [/\/resolve\//, "hub:resolve"],
  ];
  for (const [re, name] of rules) if (re.test(p)) return name;
  return "other";
}

function summarize(reqs) {
  const out = {};
  for (const r of reqs) {
    const key = `${r.method} ${routeOf(r.method, r.url)}`;
    const s = (out[key] ??= { count: 0, bytesSent: 0, statuses: {} });
    s.count += 1;
    if (r.bytesSent > 0) s.bytesSent += r.bytesSent;
    const st = String(r.status ?? r.error ?? "?");
    s.statuses[st] = (s.statuses[st] ?? 0) + 1;
  }
  return out;
}

// ---- the scenario -----------------------------------------------------------------------------------
const result = { ok: false, useXet, repo: opts.repo, hubUrl, phase: "setup" };
try {
  const files = await makeFiles(opts.workdir);
  result.files = files.map(({ path, size, sha256 }) => ({ path, size, sha256 }));

  result.phase = "createRepo";
  const created = await createRepo({ repo: { type: "model", name: opts.repo }, accessToken, hubUrl, fetch: loggingFetch });
  result.createRepo = created;

  result.phase = "upload";
  const uploadStart = requests.length;
  const t0 = Date.now();
  const commit = await uploadFiles({
    repo: { type: "model", name: opts.repo },
    accessToken,
    hubUrl,
    fetch: loggingFetch,
    useXet,
    commitTitle: `js client upload (useXet=${useXet})`,
    files: files.map((f) => ({ path: f.path, content: pathToFileURL(f.local) })),
  });
  result.upload = {
    seconds: (Date.now() - t0) / 1000,
    commit,
    lfsBatch,
    routes: summarize(requests.slice(uploadStart)),
  };

  result.phase = "listFiles";
  const listed = [];
  for await (const e of listFiles({ repo: { type: "model", name: opts.repo }, recursive: true, accessToken, hubUrl, fetch: loggingFetch })) {
    listed.push({ type: e.type, path: e.path, size: e.size, oid: e.oid, lfs: e.lfs ?? null, xetHash: e.xetHash ?? null });
  }
  result.listing = listed;

  result.phase = "download";
  const downloadStart = requests.length;
  const t1 = Date.now();
  result.downloads = [];
  for (const f of files) {
    const d = { path: f.path };
    result.downloads.push(d);
    const info = await fileDownloadInfo({ repo: { type: "model", name: opts.repo }, path: f.path, accessToken, hubUrl, fetch: loggingFetch });
    d.info = info && { size: info.size, etag: info.etag, xet: info.xet ? { hash: info.xet.hash, refreshUrl: info.xet.refreshUrl.href, reconstructionUrl: info.xet.reconstructionUrl.href } : null };
    const blob = await downloadFile({
      repo: { type: "model", name: opts.repo },
      path: f.path,
      accessToken,
      hubUrl,
      fetch: loggingFetch,
      xet: useXet,
      downloadInfo: info ?? undefined,
    });
    if (!blob) {
      d.missing = true;
      continue;
    }
    d.via = blob.constructor.name; // XetBlob or WebBlob
    d.size = blob.size;
    Object.assign(d, await sha256OfBlob(blob));
    if (d.via !== "WebBlob" && info) {
      // Downloaded through Xet: the same file over plain HTTP (what git-lfs and HF_HUB_DISABLE_XET=1 use).
      const plain = await downloadFile({ repo: { type: "model", name: opts.repo }, path: f.path, accessToken, hubUrl, fetch: loggingFetch, xet: false, downloadInfo: info });
      d.http = await sha256OfBlob(plain);
    }
    if (f.size > 16) {
      // A range from the middle, crossing a 64 KiB boundary when the file is large enough.
      const start = f.size > 200000 ? 65536 - 100 : Math.floor(f.size / 3);
      const end = Math.min(f.size, start + Math.max(8, Math.floor(f.size / 4)));
      const got = Buffer.from(await blob.slice(start, end).arrayBuffer());
      const want = await readLocal(f.local, start, end);
      d.range = { start, end, ok: got.equals(want), got: got.length };
    }
  }
  result.download = { seconds: (Date.now() - t1) / 1000, routes: summarize(requests.slice(downloadStart)) };
  result.phase = "done";
  result.ok = true;
} catch (e) {
  result.error = { message: String(e?.message ?? e), name: e?.name, statusCode: e?.statusCode, url: e?.url, stack: String(e?.stack ?? "") };
  result.lastRequests = requests.slice(-15);
}
result.requestCount = requests.length;
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(result.ok ? 0 : 1);

#!/usr/bin/env node
// Reads an EPUB the way a person would in an epub.js reader: opens it in headless
// Chromium, waits until the first page is really on screen, reads the table of
// contents, then turns every page to the end. Prints one JSON object on stdout.
//
//   node epubjs-read.mjs BOOK.epub [--screenshot OUT.png] [--time-limit SECONDS]
//
// The book and the reader page are served by this script on 127.0.0.1 (a random
// port) and nothing else is fetched: any other request is answered 404 and
// reported. Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM /
// $PUPPETEER_EXECUTABLE_PATH), with a fresh profile that is removed afterwards.
// Exit status: 0 when the book was read (the findings are in the JSON, for the
// caller to judge), 1 when it could not be read at all, 2 for a usage error.

import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import puppeteer from "puppeteer-core";

const require = createRequire(import.meta.url);
const EPUBJS = require.resolve("epubjs/dist/epub.min.js");
const JSZIP = createRequire(EPUBJS).resolve("jszip/dist/jszip.min.js");
const WIDTH = 600;
const HEIGHT = 800;
const MAX_TURNS = 2000;

function parseArgs(argv) {
  const args = { epub: null, screenshot: null, timeLimit: 30 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--screenshot") args.screenshot = argv[++i];
    else if (a === "--time-limit") args.timeLimit = Number(argv[++i]);
    else if (!args.epub && !a.startsWith("--")) args.epub = a;
    else usage(`unexpected argument ${a}`);
  }
  if (!args.epub) usage("no EPUB given");
  if (!(args.timeLimit > 0)) usage("--time-limit must be a positive number of seconds");
  return args;
}

function usage(message) {
  process.stderr.write(`epubjs-read: ${message}\n`);
  process.stderr.write("usage: node epubjs-read.mjs BOOK.epub [--screenshot OUT.png] [--time-limit SECONDS]\n");
  process.exit(2);
}

const PAGE = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>epub.js reader</title>
<link rel="icon" href="data:,">
<style>html, body { margin: 0; padding: 0; background: #fff; }
#viewer { width: ${WIDTH}px; height: ${HEIGHT}px; overflow: hidden; }</style>
<script src="/jszip.min.js"></script>
<script src="/epub.min.js"></script>
</head><body><div id="viewer"></div></body></html>`;

function serve(epubPath, notFound) {
  const routes = {
    "/": ["text/html; charset=utf-8", () => PAGE],
    "/jszip.min.js": ["text/javascript", () => fs.readFileSync(JSZIP)],
    "/epub.min.js": ["text/javascript", () => fs.readFileSync(EPUBJS)],
    "/book.epub": ["application/epub+zip", () => fs.readFileSync(epubPath)],
  };
  const server = http.createServer((req, res) => {
    const route = routes[new URL(req.url, "http://127.0.0.1").pathname];
    if (req.method !== "GET" || !route) {
      notFound.push(`${req.method} ${req.url}`);
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": route[0], "cache-control": "no-store" }).end(route[1]());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

// ---- functions run inside the page (serialised by puppeteer) ----

async function openBook(width, height) {
  const flatten = (items, depth) =>
    items.flatMap((item) => [
      { label: item.label.trim(), href: item.href, depth },
      ...flatten(item.subitems || [], depth + 1),
    ]);
  const book = window.ePub("/book.epub", { openAs: "epub" });
  window.book = book;
  await book.ready;
  const navigation = await book.loaded.navigation;
  const metadata = await book.loaded.metadata;
  await book.locations.generate(600);
  const spine = [];
  book.spine.each((s) => spine.push({ href: s.href, linear: s.linear, index: s.index }));
  const rendition = book.renderTo("viewer", {
    width,
    height,
    flow: "paginated",
    spread: "none",
    manager: "default",
  });
  window.rendition = rendition;
  // Resolves true at the first "relocated" event whose location passes `test`,
  // false if none comes within `ms`.
  window.relocatedWhere = (test, ms) =>
    new Promise((resolve) => {
      const done = (ok) => {
        rendition.off("relocated", onRelocated);
        clearTimeout(timer);
        resolve(ok);
      };
      const onRelocated = (location) => test(location) && done(true);
      const timer = setTimeout(() => done(false), ms);
      rendition.on("relocated", onRelocated);
    });
  const shown = window.relocatedWhere((location) => Boolean(location && location.start), 15000);
  await rendition.display();
  if (!(await shown)) throw new Error("epub.js displayed nothing within 15 s");
  return {
    title: metadata.title,
    language: metadata.language,
    toc: flatten(navigation.toc, 0),
    landmarks: (navigation.landmarks || []).map((l) => ({ type: l.type, href: l.href, label: l.label })),
    spine,
    locations_total: book.locations.length(),
  };
}

// The current page, once it is really on screen: its document parsed, every
// image decoded and every web font loaded.
async function currentPage() {
  const rendition = window.rendition;
  const location = rendition.location;
  const contents = rendition.getContents();
  const docs = [];
  for (const c of contents) {
    const doc = c.document;
    await doc.fonts.ready;
    const images = [...doc.querySelectorAll("img, image")];
    await Promise.all(images.map((img) => (img.decode ? img.decode().catch(() => null) : null)));
    docs.push({
      ready: doc.readyState,
      text_chars: (doc.body ? doc.body.textContent : "").trim().length,
      images: images.length,
      images_broken: images.filter((i) => i.tagName.toLowerCase() === "img" && !(i.complete && i.naturalWidth > 0)).length,
      fonts_loaded: [...doc.fonts].filter((f) => f.status === "loaded").map((f) => `${f.family} ${f.style} ${f.weight}`),
      fonts_failed: [...doc.fonts].filter((f) => f.status === "error").map((f) => `${f.family} ${f.style} ${f.weight}`),
    });
  }
  const iframe = document.querySelector("#viewer iframe");
  return {
    href: location.start.href,
    index: location.start.index,
    cfi: location.start.cfi,
    page: location.start.displayed.page,
    pages: location.start.displayed.total,
    location: location.start.location ?? null,
    percentage: location.start.percentage ?? null,
    at_start: Boolean(location.atStart),
    at_end: Boolean(location.atEnd),
    iframe: iframe ? { width: iframe.offsetWidth, height: iframe.offsetHeight } : null,
    docs,
  };
}

// Turns one page; true once the reader reports a new location, false if it
// reports none within 10 s (it is stuck).
async function turnPage() {
  const before = window.rendition.location.start.cfi;
  const moved = window.relocatedWhere((location) => location.start.cfi !== before, 10000);
  await window.rendition.next();
  return moved;
}

// ---- the driver ----

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const deadline = started + args.timeLimit * 1000;
  const notFound = [];
  const result = {
    ok: false,
    epub: path.resolve(args.epub),
    reader: `epub.js ${require("epubjs/package.json").version}`,
    browser: null,
    console_errors: [],
    console_warnings: [],
    page_errors: [],
    failed_requests: [],
    not_served: notFound, // requests this script's server answered 404
    toc: [],
    pages_visited: [],
    page_turns: 0,
    sections_visited: [],
    at_end: false,
    timed_out: false,
    screenshot: null,
    seconds: {},
  };
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "epubjs-chromium-"));
  const watchdog = setTimeout(() => {
    process.stderr.write("epubjs-read: hard time limit reached, giving up\n");
    fs.rmSync(userDataDir, { recursive: true, force: true });
    process.exit(1);
  }, (args.timeLimit + 30) * 1000);
  watchdog.unref();

  let server;
  let browser;
  try {
    fs.accessSync(args.epub, fs.constants.R_OK);
    server = await serve(args.epub, notFound);
    const base = `http://127.0.0.1:${server.address().port}`;
    browser = await puppeteer.launch({
      executablePath: process.env.CHROMIUM || process.env.PUPPETEER_EXECUTABLE_PATH || "/usr/bin/chromium",
      headless: true, // --headless=new
      userDataDir,
      timeout: 30000,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        "--font-render-hinting=none",
      ],
    });
    result.browser = await browser.version();
    result.seconds.launch = (Date.now() - started) / 1000;
    const page = await browser.newPage();
    await page.setViewport({ width: WIDTH, height: HEIGHT });
    page.on("console", (msg) => {
      const where = msg.location();
      const text = `${msg.text()}${where && where.url ? ` (${where.url}:${where.lineNumber ?? "?"})` : ""}`;
      if (msg.type() === "error") result.console_errors.push(text);
      else if (msg.type() === "warn" || msg.type() === "warning") result.console_warnings.push(text);
    });
    page.on("pageerror", (err) => result.page_errors.push(String(err && err.stack ? err.stack : err)));
    page.on("requestfailed", (req) => {
      const failure = req.failure();
      result.failed_requests.push(`${req.url()}: ${failure ? failure.errorText : "failed"}`);
    });
    page.on("response", (res) => {
      if (res.status() >= 400) result.failed_requests.push(`${res.url()}: HTTP ${res.status()}`);
    });
    await page.goto(`${base}/`, { waitUntil: "load", timeout: 30000 });
    const opened = await page.evaluate(openBook, WIDTH, HEIGHT);
    Object.assign(result, opened);
    result.seconds.open = (Date.now() - started) / 1000;

    // The first text page: where the TOC's first entry points, else the first
    // page with real text on it.
    const firstText = result.toc.length ? result.toc[0].href.split("#")[0] : null;
    const isFirstText = (p) =>
      firstText ? p.href === firstText : p.docs.some((d) => d.text_chars > 200);

    const seen = new Set();
    let current = await page.evaluate(currentPage);
    for (;;) {
      if (!seen.has(current.cfi)) {
        seen.add(current.cfi);
        result.pages_visited.push(current);
        if (!result.sections_visited.includes(current.href)) result.sections_visited.push(current.href);
      }
      if (args.screenshot && !result.screenshot && isFirstText(current)) {
        await page.screenshot({ path: args.screenshot, clip: { x: 0, y: 0, width: WIDTH, height: HEIGHT } });
        result.screenshot = { path: path.resolve(args.screenshot), href: current.href, page: current.page };
      }
      if (current.at_end) {
        result.at_end = true;
        break;
      }
      if (Date.now() > deadline || result.page_turns >= MAX_TURNS) {
        result.timed_out = true;
        break;
      }
      const moved = await page.evaluate(turnPage);
      const next = await page.evaluate(currentPage);
      if (!moved || next.cfi === current.cfi) {
        // The reader would not go on, though it is not at the end: stuck.
        result.stuck_at = next;
        break;
      }
      result.page_turns += 1;
      current = next;
    }
    result.seconds.read = (Date.now() - started) / 1000;
    result.ok = true;
  } catch (err) {
    result.error = String(err && err.stack ? err.stack : err);
  } finally {
    if (browser) await browser.close().catch(() => null);
    if (server) server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  result.seconds.total = (Date.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  return result.ok ? 0 : 1;
}

process.exitCode = await main();

// The Connections page in a real browser (Debian's Chromium, driven by
// playwright-core) against `connhost serve --demo-provider`: sign in with
// a team key, create and verify, a wrong key, rename, delete blocked by a
// usage then forced; CSRF, CSP and cookie flags; no secret anywhere.
// Screenshots go to tests/ui/output/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const BIN = process.env.CONNHOST_BIN ?? join(root, "target/debug/connhost");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const OUT = join(here, "output");
const APP_KEY = "demo-app-key-4f1d9c"; // the demo provider's good key
const WRONG_KEY = "wrong-app-key-PLANTED-7731";
const FAKES = process.env.CONNHOST_FAKES ?? join(root, "target/debug/connhost-fakes");
const OAUTH_HOST = "oauth.example.com";
const OAUTH_CLIENT_ID = "fake-client"; // connhost_testkit::oauth
const OAUTH_SECRET = "fake:secret/+%";
const CELONIS_CLIENT_SECRET = "demo:secret/+%&=x"; // the demo provider's client
const secrets = []; // keys made during the run
let fakes, oauthAddr, caPem;

let home, serve, base, teamKey, browser, page;
const seen = []; // every body and URL the browser got, and the server's output

// The run's own store: nothing from the caller's environment.
const env = { ...process.env, RUST_LOG: "info" };
for (const k of ["CONNHOST_HOME", "CONNHOST_MASTER_KEY", "CONNHOST_DATABASE_URL", "CONNHOST_TEAM"]) delete env[k];

function cli(...args) {
  return execFileSync(BIN, ["--home", home, "--team", "acme", ...args], {
    env,
    encoding: "utf8",
  }).trim();
}

// Every URL and body a browser context gets goes into `seen`.
function record(ctx) {
  ctx.on("response", async (r) => {
    seen.push(r.url());
    try { seen.push(await r.text()); } catch { /* redirects have no body */ }
  });
}

async function shot(name) {
  await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });
}

// The browser reaches the fake provider's consent page through this
// proxy (its name does not resolve here; its CA is the test's).
async function proxyToFake(route) {
  const req = route.request();
  const u = new URL(req.url());
  const [host, port] = oauthAddr.split(":");
  const res = await new Promise((ok, fail) => {
    const r = httpsRequest({ host, port, path: u.pathname + u.search, method: req.method(),
      headers: { ...req.headers(), host: OAUTH_HOST }, servername: OAUTH_HOST, ca: caPem }, (resp) => {
      const chunks = [];
      resp.on("data", (c) => chunks.push(c));
      resp.on("end", () => ok({ status: resp.statusCode, headers: resp.headers, body: Buffer.concat(chunks) }));
    });
    r.on("error", fail);
    if (req.postDataBuffer()) r.write(req.postDataBuffer());
    r.end();
  });
  const headers = {};
  for (const [k, v] of Object.entries(res.headers)) headers[k] = Array.isArray(v) ? v.join(", ") : String(v);
  await route.fulfill({ status: res.status, headers, body: res.body });
}

before(async () => {
  mkdirSync(OUT, { recursive: true });
  home = mkdtempSync(join(tmpdir(), "connhost-ui-"));
  // The fake OAuth server (and its CA) from connhost-fakes, for consent.
  fakes = spawn(FAKES, [], { stdio: ["pipe", "pipe", "inherit"] });
  const info = JSON.parse(await new Promise((ok) => createInterface({ input: fakes.stdout }).once("line", ok)));
  oauthAddr = info.connect_to[`${OAUTH_HOST}:443`];
  caPem = info.ca_pem;
  writeFileSync(join(home, "oauth-ca.pem"), caPem);
  writeFileSync(join(home, "fakeoauth.json"), JSON.stringify(info.oauth_definition));
  cli("connector", "add", "builtin:celonis");
  cli("connector", "add", join(root, "target/components/generic.wasm"));
  cli("provider", "add", join(home, "fakeoauth.json"));
  teamKey = cli("apikey", "create", "--team", "acme", "--name", "ui");
  serve = spawn(BIN, ["--home", home, "--json", "--ca-file", join(home, "oauth-ca.pem"),
    "--connect-to", `${OAUTH_HOST}:443:${oauthAddr}`,
    "serve", "--demo-provider", "--listen", "127.0.0.1:0"], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  serve.stderr.on("data", (d) => seen.push(String(d)));
  const first = await new Promise((ok, fail) => {
    const lines = createInterface({ input: serve.stdout });
    lines.once("line", ok);
    serve.once("exit", (c) => fail(new Error(`serve exited ${c}`)));
  });
  base = `http://${JSON.parse(first).listen}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage();
  await page.context().route(`https://${OAUTH_HOST}/**`, (route) => proxyToFake(route));
  record(page.context());
});

after(async () => {
  serve?.kill("SIGTERM");
  fakes?.stdin.end();
  fakes?.kill("SIGTERM");
  await browser?.close();
  if (home) rmSync(home, { recursive: true, force: true });
}, { timeout: 30_000 });

// A bounded run: a browser that stops answering fails the test, not CI.
test("the Connections page, end to end in Chromium", { timeout: 240_000 }, async () => {
  // Signed out: the page sends you to sign in.
  const r0 = await page.goto(base + "/");
  assert.match(page.url(), /\/signin$/);
  const csp = r0.headers()["content-security-policy"];
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  await page.fill("#key", "chk_not-a-key");
  await page.click("button[type=submit]");
  assert.equal(await page.getAttribute("#key", "aria-invalid"), "true");
  assert.match(await page.textContent("#key-error"), /not a live team API key/);
  await shot("01-signin-refused");

  // Login CSRF: a sign-in posted without this browser's own form nonce
  // (another site's form, carrying a token the attacker fetched for
  // themselves) is refused, and signs nobody in.
  const attacker = await browser.newContext();
  const ap = await attacker.newPage();
  await ap.goto(base + "/signin");
  const attackerToken = await ap.getAttribute("input[name=csrf]", "value");
  const victim = await browser.newContext();
  const forgedSignin = await victim.request.post(`${base}/signin`, {
    form: { key: teamKey, csrf: attackerToken }, maxRedirects: 0,
  });
  assert.equal(forgedSignin.status(), 403);
  assert.ok(!(await victim.cookies()).some((c) => c.name === "connhost_ui"), "no session from a forged sign-in");
  // The same attack as a page on another site that posts the form in the
  // victim's browser: refused by where it comes from, before any token.
  await victim.route("https://attacker.example/**", (route) => route.fulfill({
    contentType: "text/html",
    body: `<form method="post" action="${base}/signin"><input name="key" value="${teamKey}">` +
      `<input name="csrf" value="${attackerToken}"></form><script>document.forms[0].submit()</script>`,
  }));
  const vp = await victim.newPage();
  const crossSite = vp.waitForResponse((r) => r.url() === `${base}/signin` && r.request().method() === "POST");
  await vp.goto("https://attacker.example/");
  const refused = await crossSite;
  assert.equal(refused.status(), 403);
  assert.match(await refused.text(), /sent from another site/);
  assert.ok(!(await victim.cookies()).some((c) => c.name === "connhost_ui"), "no session from another site's form");
  await attacker.close();
  await victim.close();

  await page.fill("#key", teamKey);
  await page.click("button[type=submit]");
  assert.match(page.url(), /\/connections$/);
  assert.match(await page.textContent("main"), /No connections/);
  const cookie = (await page.context().cookies()).find((c) => c.name === "connhost_ui");
  assert.ok(cookie.httpOnly, "session cookie is HttpOnly");
  assert.equal(cookie.sameSite, "Strict");
  assert.ok(!cookie.value.includes(teamKey.split("_").pop()), "the key's secret is not in the cookie");

  // Create: pick the service, the auth kind switch changes the fields.
  await page.click("text=Create connection");
  await page.selectOption("#connector", "celonis");
  await page.click("text=Continue");
  await page.selectOption("#auth", "api-key"); // autosubmits (app.js)
  await page.waitForSelector("#f-api_key");
  assert.equal(await page.locator("#f-app_key").count(), 0);
  await page.selectOption("#auth", "app-key");
  await page.waitForSelector("#f-app_key");
  assert.equal(await page.getAttribute("#f-app_key", "type"), "password");
  assert.equal(await page.inputValue("#f-api_type"), "intelligence", "default pre-filled");
  assert.ok(await page.locator("label[for=f-domain] .req").count(), "required marked");
  await page.fill("#name", "Acme EMS");
  await page.fill("#f-domain", "acme.eu-1.celonis.cloud");
  await page.fill("#f-app_key", APP_KEY);
  await shot("02-create-form");
  await page.click("text=Save and verify");
  await page.waitForSelector(".verdict");
  const url = page.url();
  const id = url.split("/").pop();
  assert.match(await page.textContent(".verdict"), /✓ Verified/);
  assert.equal(await page.inputValue("#new-name"), "Acme EMS");
  await shot("03-verified");

  // Verify again: the button shows it is working, then ✓. The first
  // submission is stopped in the page, so its in-progress state can be
  // read without racing a navigation.
  await page.evaluate(() => document.querySelector("form[data-busy]")
    .addEventListener("submit", (e) => e.preventDefault()));
  await page.click("form[data-busy] button");
  const busy = await page.evaluate(() => {
    const b = document.querySelector("form[data-busy] button");
    return [b.getAttribute("aria-busy"), b.textContent, b.disabled];
  });
  assert.deepEqual(busy, ["true", "Verifying…", true]);
  await page.goto(url);
  await page.click("form[data-busy] button");
  await page.waitForURL(url);
  await page.waitForSelector(".verdict.ok");

  // A wrong key: the form again, ✗ unauthorized next to the key, and
  // nothing saved (no connection in error is left behind).
  await page.goto(base + "/connections/new?connector=celonis&auth=app-key");
  await page.fill("#name", "Acme wrong");
  await page.fill("#f-domain", "acme.eu-1.celonis.cloud");
  await page.fill("#f-app_key", WRONG_KEY);
  await page.click("text=Save and verify");
  assert.match(page.url(), /\/connections\/new$/);
  assert.equal(await page.getAttribute("#f-app_key", "aria-invalid"), "true");
  assert.match(await page.textContent("#e-app_key"), /✗ unauthorized.*nothing was saved/);
  assert.equal(await page.inputValue("#f-app_key"), "", "a secret is never sent back");
  assert.equal(await page.inputValue("#name"), "Acme wrong");
  await shot("04-wrong-key");
  await page.goto(base + "/connections");
  assert.doesNotMatch(await page.textContent("main"), /Acme wrong/);
  // One made through the API (which keeps it, in error): the page says
  // ✗ unauthorized, and what to do.
  env.WRONG_APP_KEY = WRONG_KEY;
  const wrongId = JSON.parse(cli("--json", "connection", "create", "--connector", "celonis",
    "--name", "Acme wrong", "--field", "domain=acme.eu-1.celonis.cloud", "--field", "auth_type=app-key",
    "--secret", "app_key=env:WRONG_APP_KEY")).id;
  await page.goto(`${base}/connections/${wrongId}`);
  await page.click("form[data-busy] button");
  await page.waitForSelector(".verdict.bad");
  assert.match(await page.textContent(".verdict.bad"), /✗ unauthorized/);
  assert.match(await page.textContent(".advice"), /Check the key/);

  // Invalid input is named next to its field, values kept, secret not.
  await page.goto(base + "/connections/new?connector=celonis&auth=app-key");
  await page.fill("#f-domain", "not a domain");
  await page.fill("#f-app_key", APP_KEY);
  await page.click("text=Save and verify");
  assert.equal(await page.getAttribute("#f-domain", "aria-invalid"), "true");
  assert.match(await page.textContent("#e-domain"), /domain/);
  assert.equal(await page.inputValue("#f-app_key"), "", "a secret is never sent back");

  // Keyboard: Tab reaches every control, and focus is visible on each.
  await page.goto(base + "/connections/new?connector=celonis&auth=app-key");
  const reached = new Set();
  for (let i = 0; i < 25; i++) {
    await page.keyboard.press("Tab");
    const [what, outline] = await page.evaluate(() => {
      const a = document.activeElement;
      if (a === document.body) return ["", "n/a"];
      return [a.id || a.textContent.trim(), getComputedStyle(a).outlineStyle];
    });
    if (what) assert.notEqual(outline, "none", `focus not visible on ${what}`);
    reached.add(what);
  }
  for (const want of ["auth", "name", "f-domain", "f-app_key", "Save and verify", "Cancel"]) {
    assert.ok(reached.has(want), `Tab never reached ${want}`);
  }

  // Rename in place.
  await page.goto(url);
  await page.fill("#new-name", "Acme EMS (prod)");
  await page.click("button:has-text('Rename')");
  assert.equal(await page.textContent("h1"), "Acme EMS (prod)");

  // Edit, then cancel: nothing changes. The form has the data, not the secret.
  await page.click("text=Edit…");
  assert.match(await page.textContent("#edit-note"), /enter its secrets again/);
  assert.equal(await page.inputValue("#f-domain"), "acme.eu-1.celonis.cloud");
  assert.equal(await page.inputValue("#f-app_key"), "");
  await page.fill("#name", "Changed name");
  await page.click("a.button:text-is('Cancel')");
  assert.equal(page.url(), url);
  assert.equal(await page.textContent("h1"), "Acme EMS (prod)");

  // Edit with a wrong key: refused, said why, the original kept.
  await page.click("text=Edit…");
  await page.fill("#name", "Changed name");
  await page.fill("#f-app_key", WRONG_KEY);
  await page.click("text=Save and verify");
  assert.match(await page.textContent("form .error[role=alert]"), /unauthorized.*nothing was changed/);
  assert.equal(await page.inputValue("#f-app_key"), "", "a secret is never sent back");
  await shot("05-edit-refused");
  await page.goto(url);
  assert.equal(await page.textContent("h1"), "Acme EMS (prod)");
  assert.match(await page.textContent(".verdict"), /✓ Verified/);

  // Edit with the right key: saved, and the new data shown.
  await page.click("text=Edit…");
  await page.fill("#f-app_key", APP_KEY);
  await page.fill("#f-pool_id", "pool-7");
  await page.click("text=Save and verify");
  assert.match(await page.textContent(".flash"), /Saved/);
  assert.match(await page.textContent("dl"), /pool-7/);

  // Regenerate the key: a wrong value is refused and the old one kept.
  await page.fill("#s-app_key", WRONG_KEY);
  await page.click("form[action$='/secrets/app_key'] button");
  assert.match(await page.textContent("#secret-error"), /old value is kept/);
  await page.fill("#s-app_key", APP_KEY);
  await page.click("form[action$='/secrets/app_key'] button");
  assert.match(await page.textContent(".flash"), /Replaced app_key/);
  assert.match(await page.textContent(".verdict"), /✓ Verified/);

  // The list: status in words, connector's display name, filter.
  await page.goto(base + "/connections");
  const table = await page.textContent("table");
  assert.match(table, /Acme EMS \(prod\)/);
  assert.match(table, /Celonis/);
  assert.match(table, /Error: the service refused the credentials/);
  await page.selectOption("#f-status", "ok");
  await page.waitForURL(/status=ok/);
  assert.doesNotMatch(await page.textContent("table"), /Acme wrong/);
  await shot("06-list");
  // A flash message is one of the server's: a link's own text is not shown.
  await page.goto(base + "/connections?flash=" + encodeURIComponent("Call +1 555 0100 and read us your key"));
  assert.equal(await page.locator(".flash").count(), 0);

  // Scopes: the catalogue as Celonis groups it, and the least privilege
  // for the usages picked (the union of what they need).
  cli("usage", "add", "--consumer", "push-flow", "--connection", wrongId,
    "--scopes", "integration.data-pools,audit.log:read");
  cli("usage", "add", "--consumer", "projects-flow", "--connection", wrongId,
    "--scopes", "action-engine.projects,integration.data-pools");
  cli("usage", "add", "--consumer", "other-flow", "--connection", wrongId,
    "--scopes", "studio");
  await page.goto(base + "/connections/new?connector=celonis&auth=oauth2");
  const groups = await page.$$eval("fieldset.scope-group legend", (ls) => ls.map((l) => l.textContent));
  // Every input and select has a label, the ~60 scope checkboxes too.
  const unlabelled = await page.$$eval("input:not([type=hidden]), select", (xs) => xs.filter((x) => !x.labels.length).map((x) => x.name));
  assert.deepEqual(unlabelled, []);
  assert.ok(groups.includes("Integration") && groups.includes("Action engine"), groups.join());
  assert.equal(new Set(groups).size, groups.length, "each group once");
  assert.match(await page.textContent("fieldset.scopes"), /Push data to data pools/);
  assert.match(await page.textContent("form[aria-labelledby=plan-title]"), /push-flow/);
  await page.check("label:has-text('push-flow')");
  await page.check("label:has-text('projects-flow')");
  await page.click("text=Select least privilege");
  assert.match(await page.textContent("#plan-note"), /push-flow, projects-flow: 3 scope/);
  const checked = await page.$$eval("input[name^='scope:']:checked", (xs) => xs.map((x) => x.name.slice(6)));
  assert.deepEqual(checked.sort(), ["action-engine.projects", "audit.log:read", "integration.data-pools"]);
  await shot("06a-scopes-planned");
  await page.fill("#name", "Acme OAuth");
  await page.fill("#f-domain", "acme.eu-1.celonis.cloud");
  await page.fill("#f-client_id", "demo-client");
  await page.fill("#f-client_secret", CELONIS_CLIENT_SECRET);
  await page.click("text=Save and verify");
  // The usages' scopes are not all the service wants for this API: the
  // AccountValidationError names the missing one next to the scopes, and
  // nothing is saved.
  assert.match(await page.textContent("#e-scopes"), /✗ account-validation.*intelligence\.knowledge-models:read.*nothing was saved/);
  await shot("06b-missing-scope");
  // The form kept the scopes picked; add the missing one.
  const stored = await page.$$eval("input[name^='scope:']:checked", (xs) => xs.map((x) => x.name.slice(6)));
  assert.deepEqual(stored.sort(), ["action-engine.projects", "audit.log:read", "integration.data-pools"]);
  await page.check("input[name='scope:intelligence.knowledge-models:read']");
  await page.fill("#f-client_secret", CELONIS_CLIENT_SECRET);
  await page.click("text=Save and verify");
  await page.waitForSelector(".verdict.ok");
  const acmeOAuthUrl = page.url().split("?")[0];
  // The detail shows the scopes grouped, each with what it grants.
  const shown = await page.$$eval(".scope-list li", (ls) => ls.map((l) => [l.querySelector("strong").textContent,
    [...l.querySelectorAll("code")].map((c) => c.textContent)]));
  assert.deepEqual(shown, [["Action engine", ["action-engine.projects"]], ["Audit", ["audit.log:read"]],
    ["Integration", ["integration.data-pools"]], ["Intelligence API", ["intelligence.knowledge-models:read"]]]);
  // None checked: the field is named as required, nothing is created.
  await page.goto(base + "/connections/new?connector=celonis&auth=oauth2");
  await page.fill("#f-domain", "acme.eu-1.celonis.cloud");
  await page.fill("#f-client_id", "demo-client");
  await page.fill("#f-client_secret", CELONIS_CLIENT_SECRET);
  await page.click("text=Save and verify");
  assert.match(await page.textContent("#e-scopes"), /scope/);
  await page.goto(base + "/connections");
  assert.match(await page.textContent("table"), /OK, expires in \d+ (min|h)/);

  // A form without this session's token is refused.
  const forged = await page.request.post(`${base}/connections/${id}/verify`, { form: { csrf: "x" } });
  assert.equal(forged.status(), 403);

  // Delete: blocked by a usage, listed; then forced.
  cli("usage", "add", "--consumer", "flow-1", "--connection", id);
  // A member of the team is not offered force, and a forced post is refused.
  const memberKey = cli("apikey", "create", "--team", "acme", "--name", "member", "--role", "member");
  const mctx = await browser.newContext();
  record(mctx);
  const mp = await mctx.newPage();
  await mp.goto(base + "/signin");
  await mp.fill("#key", memberKey);
  await mp.click("button[type=submit]");
  await mp.goto(`${url}/delete`);
  assert.match(await mp.textContent(".consumers"), /flow-1/);
  assert.equal(await mp.locator("#force").count(), 0);
  assert.match(await mp.textContent("#no-force"), /Only a team admin/);
  const memberCsrf = await mp.getAttribute("input[name=csrf]", "value");
  const memberForce = await mp.request.post(`${url}/delete`, { form: { csrf: memberCsrf, force: "on" } });
  assert.equal(memberForce.status(), 403);
  await mp.screenshot({ path: join(OUT, "07a-member-no-force.png"), fullPage: true });
  // Nor may a member's edit stop asking for a scope a usage needs.
  cli("usage", "add", "--consumer", "audit-flow", "--connection", acmeOAuthUrl.split("/").pop(),
    "--scopes", "audit.log:read");
  await mp.goto(`${acmeOAuthUrl}/edit`);
  await mp.uncheck("input[name='scope:audit.log:read']");
  await mp.fill("#f-client_secret", CELONIS_CLIENT_SECRET);
  await mp.click("text=Save and verify");
  assert.match(await mp.textContent("form .error[role=alert]"), /forbidden.*audit\.log:read.*only a team admin/);
  await mctx.close();
  secrets.push(memberKey);

  await page.goto(url);
  await page.click("text=Delete connection…");
  assert.match(await page.textContent(".consumers"), /flow-1/);
  await page.click("button.danger");
  assert.match(await page.textContent(".consumers"), /flow-1/, "still there, still blocked");
  await shot("07-delete-blocked");
  await page.check("#force");
  await page.click("button.danger");
  assert.match(page.url(), /\/connections\?flash=/);
  assert.match(await page.textContent(".flash"), /Deleted the connection/);
  assert.doesNotMatch(await page.textContent("table"), /Acme EMS \(prod\)/);
  await shot("08-deleted");

  // The generic connector's catalogue: a search, then the chosen
  // provider's own fields (here Zendesk's subdomain), nothing else.
  await page.goto(base + "/connections/new?connector=generic");
  await page.fill("#q", "zendesk");
  await page.click("button:has-text('Search')");
  await page.click("ul.providers a:has-text('Zendesk')");
  assert.match(await page.textContent("label[for=f-subdomain]"), /Zendesk subdomain/);
  assert.equal(await page.$("#f-definition"), null);
  assert.equal(await page.$("#f-region"), null);
  await shot("08b-catalogue-provider");

  // Consent: OAuth 2.0 authorization code through the provider's page,
  // back verified; the team's own definition is offered as a provider.
  await page.goto(base + "/connections/new?connector=generic&provider=fakeoauth&auth=oauth2");
  assert.equal(await page.inputValue("#f-provider"), "fakeoauth");
  await page.fill("#name", "Fake OAuth");
  await page.fill("#f-client_id", OAUTH_CLIENT_ID);
  await page.fill("#f-client_secret", OAUTH_SECRET);
  await page.fill("#f-scopes", "profile");
  // The provider's consent page opens in a pop-up; this page waits, then
  // shows the connection, verified, when the pop-up closes.
  const consentIn = async (start) => {
    const [popup] = await Promise.all([page.waitForEvent("popup"), start()]);
    await popup.waitForURL(/oauth\.example\.com\/authorize/);
    return popup;
  };
  let popup = await consentIn(() => page.click("text=Save and verify"));
  assert.match(await page.textContent("[data-consent-status]"), /grant access in the pop-up/);
  await popup.screenshot({ path: join(OUT, "09-consent-popup.png") });
  await shot("09-consent-waiting");
  await Promise.all([popup.waitForEvent("close"), popup.click("button[value=allow]")]);
  await page.waitForURL(/\/connections\/conn_/);
  const consentUrl = page.url().split("?")[0];
  assert.match(await page.textContent(".flash"), /Connected/);
  assert.match(await page.textContent(".verdict"), /✓ Verified/);
  await shot("10-consented");
  // Reauthorize: consent again, the same connection.
  popup = await consentIn(() => page.click("button:has-text('Reauthorize')"));
  await Promise.all([popup.waitForEvent("close"), popup.click("button[value=allow]")]);
  await page.waitForURL(/\/connections\/conn_.*flash/);
  assert.equal(page.url().split("?")[0], consentUrl);
  assert.match(await page.textContent(".verdict"), /✓ Verified/);
  // Edit through consent: denied at the provider, nothing changes; then
  // allowed, the same connection takes the new data (no second one).
  const editThroughConsent = async (answer) => {
    await page.goto(consentUrl);
    await page.click("text=Edit…");
    await page.fill("#name", "Fake OAuth (edited)");
    await page.fill("#f-client_secret", OAUTH_SECRET);
    const p = await consentIn(() => page.click("text=Save and verify"));
    await Promise.all([p.waitForEvent("close"), p.click(`button[value=${answer}]`)]);
  };
  await editThroughConsent("deny");
  await page.waitForURL(/\/connections\?flash=/);
  await page.goto(consentUrl);
  assert.equal(await page.textContent("h1"), "Fake OAuth");
  await editThroughConsent("allow");
  await page.waitForURL(/\/connections\/conn_.*flash/);
  assert.equal(page.url().split("?")[0], consentUrl);
  assert.equal(await page.textContent("h1"), "Fake OAuth (edited)");
  assert.match(await page.textContent(".verdict"), /✓ Verified/);
  // Denied at the provider: said so, in words of our own.
  popup = await consentIn(() => page.click("button:has-text('Reauthorize')"));
  await Promise.all([popup.waitForEvent("close"), popup.click("button[value=deny]")]);
  await page.waitForURL(/\/connections\?flash=/);
  assert.match(await page.textContent(".flash"), /Access was not granted/);
  // Pop-ups blocked (or no script): the page itself goes to the provider
  // and comes back.
  const noScript = await browser.newContext({ javaScriptEnabled: false });
  record(noScript);
  await noScript.route(`https://${OAUTH_HOST}/**`, (route) => proxyToFake(route));
  const ns = await noScript.newPage();
  await ns.goto(base + "/signin");
  await ns.fill("#key", teamKey);
  await ns.click("button[type=submit]");
  await ns.goto(consentUrl);
  await ns.click("button:has-text('Reauthorize')");
  await ns.waitForURL(/oauth\.example\.com\/authorize/);
  await ns.click("button[value=allow]");
  await ns.waitForURL(/\/connections\/conn_.*flash/, { timeout: 10_000 });
  assert.equal(ns.url().split("?")[0], consentUrl);
  assert.match(await ns.textContent(".verdict"), /✓ Verified/);
  await noScript.close();
  // A made-up return says nothing of what it carries.
  await page.goto(base + "/connections/consented?status=failed&error=x%3Cscript%3E&error_description=Call+this+number");
  assert.doesNotMatch(await page.textContent("main"), /Call this number|<script>/);

  // Thousands of connections: pages of 50, and a filter that looks past
  // the first page (connections are listed in id order, not made order).
  for (let i = 0; i < 70; i++) {
    const r = await fetch(`${base}/v1/connections`, {
      method: "POST",
      headers: { authorization: `Bearer ${teamKey}`, "content-type": "application/json" },
      body: JSON.stringify({ connector: "celonis", name: `bulk-${i}`,
        fields: { domain: "acme.eu-1.celonis.cloud", auth_type: "app-key" }, secrets: { app_key: APP_KEY } }),
    });
    assert.equal(r.status, 200, await r.text());
  }
  await page.goto(base + "/connections");
  assert.equal(await page.locator("table.connections tbody tr").count(), 50);
  await page.click("text=Next page");
  assert.ok((await page.locator("table.connections tbody tr").count()) >= 20);
  await page.goto(base + "/connections?connector=generic");
  const generic = await page.$$eval("table.connections tbody tr td:first-child", (t) => t.map((x) => x.textContent));
  assert.deepEqual(generic, ["Fake OAuth (edited)"]);
  await page.goto(base + "/connections?status=ok");
  const okNames = await page.$$eval("table.connections tbody tr td:first-child", (t) => t.map((x) => x.textContent));
  assert.deepEqual(okNames.sort(), ["Acme OAuth", "Fake OAuth (edited)"]);

  // A consent link taken to another browser gets nothing: the callback
  // wants the browser that started it, which can still finish.
  await page.goto(base + "/connections/new?connector=generic&provider=fakeoauth&auth=oauth2");
  await page.fill("#name", "Bound consent");
  await page.fill("#f-client_id", OAUTH_CLIENT_ID);
  await page.fill("#f-client_secret", OAUTH_SECRET);
  popup = await consentIn(() => page.click("text=Save and verify"));
  const elsewhere = await browser.newContext();
  record(elsewhere);
  await elsewhere.route(`https://${OAUTH_HOST}/**`, (route) => proxyToFake(route));
  const ep = await elsewhere.newPage();
  const refusedCallback = ep.waitForResponse((r) => r.url().includes("/oauth/callback"));
  await ep.goto(popup.url());
  await ep.click("button[value=allow]");
  const cb = await refusedCallback;
  assert.match(cb.headers()["location"] ?? "", /status=failed/);
  await elsewhere.close();
  const named = async (name) => {
    const r = await fetch(`${base}/v1/connections?limit=500`, { headers: { authorization: `Bearer ${teamKey}` } });
    return (await r.json()).filter((c) => c.name === name).length;
  };
  assert.equal(await named("Bound consent"), 0, "another browser's allow made a connection");
  await Promise.all([popup.waitForEvent("close"), popup.click("button[value=allow]")]);
  await page.waitForURL(/\/connections\/conn_.*flash/);
  assert.equal(await page.textContent("h1"), "Bound consent");
  assert.equal(await named("Bound consent"), 1);

  // Signed out, the pages are closed again, and a copy of the cookie
  // taken before is no good either (the server ended the key's sessions).
  const copy = (await page.context().cookies()).find((c) => c.name === "connhost_ui");
  await page.click("text=Sign out");
  await page.goto(base + "/connections");
  assert.match(page.url(), /\/signin$/);
  const replay = await browser.newContext();
  await replay.addCookies([copy]);
  const rp = await replay.newPage();
  await rp.goto(base + "/connections");
  assert.match(rp.url(), /\/signin$/, "a copied cookie outlives sign-out");
  await replay.close();

  // No secret value in any page, URL, response or server log.
  const all = seen.join("\n");
  for (const secret of [APP_KEY, WRONG_KEY, teamKey, OAUTH_SECRET, encodeURIComponent(OAUTH_SECRET),
    CELONIS_CLIENT_SECRET, encodeURIComponent(CELONIS_CLIENT_SECRET), ...secrets]) {
    assert.ok(!all.includes(secret), `a secret appeared in what the run saw`);
  }
  console.log(`ui: ${seen.length} responses and log chunks checked; 0 secrets; screenshots in tests/ui/output`);
});
